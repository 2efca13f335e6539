//! Partitioners: placeholder until they land.
