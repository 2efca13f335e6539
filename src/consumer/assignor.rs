//! Partition assignors: placeholder until they land.
