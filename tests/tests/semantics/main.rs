//! The behaviours CPython's `Lib/test/test_context.py` pins (PEP 567), ported one test per
//! behaviour. Each test that reads or writes the current context runs in a fresh empty one
//! (`#[contextvars::test]`), as CPython's "isolated context" tests do, so no test depends on
//! what another left on its thread.

mod mapping;
mod run;
mod scoped;
mod threads;
mod tokens;
