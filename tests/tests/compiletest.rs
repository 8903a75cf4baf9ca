//! Misuses of the declaration macros are compile errors with clear messages on the right
//! tokens. Snapshots of rustc's own diagnostics (type mismatch, unresolved path) follow the
//! toolchain: refresh them with `TRYBUILD=overwrite` after an upgrade and review the diff.

#[test]
#[cfg_attr(miri, ignore)]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
