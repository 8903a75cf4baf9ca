//! How many cases a property test runs: `CONTEXTVARS_MODEL_CASES` when set (CI's release run
//! sets it high), else the test's default. Include with `#[path = "support/cases.rs"] mod cases;`.

pub fn cases(default: u32) -> u32 {
    std::env::var("CONTEXTVARS_MODEL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}
