//! The memory budget: placeholder until it lands.
