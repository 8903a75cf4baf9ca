//! Support code shared by the workspace's unpublished tests: the facade's integration tests in
//! `tests/tests/`, the server examples' tests and the memory benchmark. Each module does one
//! thing; a test file names what it uses (`use contextvars_tests::quiet_panics;`).

pub mod cases;
pub mod counting_alloc;
pub mod in_child;
pub mod log_buffer;
pub mod plain_spawn;
pub mod quiet_panics;
pub mod runtime;
pub mod yield_once;
