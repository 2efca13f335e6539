//! State machine tests.
