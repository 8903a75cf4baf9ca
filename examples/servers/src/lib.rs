//! The server examples' application code, shared by the example programs and their tests, and
//! the README's examples, compiled and run as doctests with the crates they use.

pub mod http_client;
pub mod request_server;
pub mod two_services;

/// The README.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
