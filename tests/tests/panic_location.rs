//! Panics caused by misuse name the caller's file and line, not the library's.

use std::panic::{self, Location};
use std::sync::Mutex;

use contextvars::{ContextVar, reset_module};

static NO_DEFAULT: ContextVar<u32> = ContextVar::new("no_default");

mod empty {}

/// Runs `f`, which must panic, and returns where the panic says it happened.
fn panic_location(f: impl FnOnce() + panic::UnwindSafe) -> (String, u32) {
    static SEEN: Mutex<Option<(String, u32)>> = Mutex::new(None);
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let location = info.location().expect("a panic location");
        *SEEN.lock().unwrap() = Some((location.file().to_owned(), location.line()));
    }));
    let result = panic::catch_unwind(f);
    panic::set_hook(previous);
    assert!(result.is_err(), "expected a panic");
    SEEN.lock().unwrap().take().expect("the hook saw the panic")
}

// One test: the panic hook is process-wide.
#[test]
fn misuse_panics_point_at_the_caller() {
    let here = Location::caller().file();

    let line = line!() + 2;
    let (file, at) = panic_location(|| {
        let _: u32 = NO_DEFAULT.get();
    });
    assert_eq!((file.as_str(), at), (here, line));

    let line = line!() + 2;
    let (file, at) = panic_location(|| {
        let _: usize = reset_module!(empty);
    });
    assert_eq!((file.as_str(), at), (here, line));
}
