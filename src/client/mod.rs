//! The client layer: placeholder until it lands.
