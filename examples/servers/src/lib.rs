//! The README's examples, compiled and run as doctests with the crates they use.

/// The README.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
