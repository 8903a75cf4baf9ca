//! How a property test runs: `CONTEXTVARS_MODEL_CASES` cases when set (CI's release run sets it
//! high), else the test's default; a failing case is saved next to the test's source file.

use proptest::test_runner::{Config, FileFailurePersistence};

/// The proptest configuration of a test whose default is `default_cases` cases.
pub fn config(default_cases: u32) -> Config {
    let cases = std::env::var("CONTEXTVARS_MODEL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        // The default looks for the crate's lib.rs, which this test package does not have.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..Config::default()
    }
}
