//! The consumer: placeholder until it lands.

pub mod assignor;
