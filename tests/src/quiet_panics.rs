//! Panics made on purpose in tests say "boom"; these helpers keep those panics out of the output and
//! check that a closure panicked with one.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

/// Installs, once per process, a panic hook that stays silent for "boom" panics.
pub fn quiet() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str));
            if !message.is_some_and(|m| m.contains("boom")) {
                default(info);
            }
        }));
    });
}

/// Runs `f`, which must panic with a message that says "boom".
#[track_caller]
pub fn must_panic<R>(f: impl FnOnce() -> R) {
    quiet();
    let Err(payload) = catch_unwind(AssertUnwindSafe(f)) else {
        panic!("expected a panic");
    };
    let message = payload
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(message.contains("boom"), "unexpected panic: {message}");
}
