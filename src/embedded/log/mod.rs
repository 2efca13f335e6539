//! Partition logs: placeholder until the log module lands.
