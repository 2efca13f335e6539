//! One broker connection: placeholder until the net module lands.
