//! SASL mechanisms: placeholder until they land.
