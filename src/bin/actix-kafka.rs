//! The `actix-kafka` command: placeholder until the CLI lands.

fn main() {}
