//! Runs a test's body in a child process of the test binary, for cases whose failure is an
//! abort of the whole process.

use std::process::Command;

const CHILD: &str = "CONTEXTVARS_TEST_CHILD";

/// In the child, runs `body`; in the parent, runs the test named `name` (this test, whose name
/// no other test's contains) again in a child process and asserts that it exited normally,
/// with the child's output on failure.
#[track_caller]
pub fn in_child(name: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD).is_some() {
        body();
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        // A filter, not `--exact`: the test's full name has the module path of its file.
        .args([name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child process failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("1 passed"),
        "the test did not run:\n{stdout}"
    );
}
