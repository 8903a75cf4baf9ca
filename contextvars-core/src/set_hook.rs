//! The one call a `set` makes out of the runtime: a check of writes into a thread's own
//! context, installed at run time by whoever asks for it (the facade's
//! `contextvars::tokio::set_leak_check`), never switched on by a cargo feature.

use std::panic::Location;
use std::sync::OnceLock;

use crate::current;

/// Called with the variable's name and the caller's location when a `set` writes into its
/// thread's own context (no context entered).
pub type ThreadContextWriteHook = fn(&'static str, &'static Location<'static>);

static HOOK: OnceLock<ThreadContextWriteHook> = OnceLock::new();

/// Installs `hook` for the whole process; the first one installed stays. Returns whether this
/// call installed it.
pub fn set_thread_context_write_hook(hook: ThreadContextWriteHook) -> bool {
    HOOK.set(hook).is_ok()
}

/// Called by every `set`, before it writes: one atomic load while no hook is installed.
#[inline]
#[track_caller]
pub(crate) fn before_set(var_name: &'static str) {
    if let Some(&hook) = HOOK.get() {
        call(hook, var_name, Location::caller());
    }
}

#[cold]
#[inline(never)]
fn call(
    hook: ThreadContextWriteHook,
    var_name: &'static str,
    location: &'static Location<'static>,
) {
    if current::in_thread_context() {
        hook(var_name, location);
    }
}
