//! Consumer groups: placeholder until the group module lands.
