//! Variables declared in a separate crate, for the registry tests.
