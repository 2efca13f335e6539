//! Macros the crate's builders share.

/// A builder setter for one field of `self.config`: `setter!(/// docs, name: Type)`
/// writes `pub fn name(mut self, name: Type) -> Self`. Each setter's doc comment
/// states the default and the unit, so a builder reads as its own documentation.
macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, $name: $ty) -> Self {
            self.config.$name = $name;
            self
        }
    };
}
