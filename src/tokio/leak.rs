//! Reports the write that leaks: a `set` from a tokio task that runs in its worker thread's own
//! context.

use std::cell::Cell;
use std::panic::Location;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// What happens when a tokio task that runs in no context of its own sets a variable.
///
/// Such a task (a plain `tokio::spawn`, a future handed unwrapped to a library's executor)
/// writes into its worker thread's own context, where the next unwrapped task polled on that
/// thread reads the value: one request seeing another's state. The check is made in
/// [`ContextVar::set`](crate::ContextVar::set); writes inside a wrapped future, a
/// [`Context::run`](crate::Context::run), a task of `contextvars::spawn` or of a runtime built
/// with `inherit_on_spawn` are never reported, nor are writes from the future given to
/// `block_on` (which is not a task).
///
/// Off until a call to [`set_leak_check`] switches it on, for the whole process: enabling the
/// `tokio` feature alone never changes what a `set` does. Until then a `set` costs one atomic
/// load more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeakCheck {
    /// No check.
    Off,
    /// Counts every such write ([`leaked_writes`]) and prints the first one of each thread to
    /// standard error, with the variable's name, the task's id and the caller's location.
    Report,
    /// Panics at the `set`, before the value is written, with the same message: the task
    /// panics and tokio hands the panic to its `JoinHandle`.
    Panic,
}

const OFF: u8 = 0;
const REPORT: u8 = 1;
const PANIC: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(OFF);
static LEAKED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static PRINTED: Cell<bool> = const { Cell::new(false) };
}

/// Chooses what a `set` from a tokio task without a context of its own does, for the whole
/// process (feature `tokio`).
///
/// ```
/// use contextvars::ContextVar;
/// use contextvars::tokio::{leaked_writes, set_leak_check, LeakCheck};
///
/// static USER: ContextVar<&str> = ContextVar::new("user");
///
/// set_leak_check(LeakCheck::Panic);
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let before = leaked_writes();
/// // A plain tokio task writes into the worker thread's own context: refused.
/// let plain = tokio::spawn(async { USER.set("dina"); });
/// assert!(plain.await.unwrap_err().is_panic());
/// assert_eq!(leaked_writes(), before + 1);
/// // The same write in a task with a context of its own is fine.
/// contextvars::tokio::spawn(async { USER.set("dina"); }).await.unwrap();
/// # });
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub fn set_leak_check(check: LeakCheck) {
    let mode = match check {
        LeakCheck::Off => OFF,
        LeakCheck::Report => REPORT,
        LeakCheck::Panic => PANIC,
    };
    MODE.store(mode, Ordering::Relaxed);
    if mode != OFF {
        contextvars_core::__private::set_thread_context_write_hook(check_write);
    }
}

/// The current [`LeakCheck`].
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub fn leak_check() -> LeakCheck {
    match MODE.load(Ordering::Relaxed) {
        OFF => LeakCheck::Off,
        REPORT => LeakCheck::Report,
        _ => LeakCheck::Panic,
    }
}

/// How many writes the check has found since the process started, on every thread.
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub fn leaked_writes() -> u64 {
    LEAKED.load(Ordering::Relaxed)
}

/// Called by every `set` into a thread's own context once a check was asked for, before it
/// writes.
fn check_write(var_name: &'static str, location: &'static Location<'static>) {
    if MODE.load(Ordering::Relaxed) == OFF {
        return;
    }
    let Some(task) = ::tokio::task::try_id() else {
        return;
    };
    LEAKED.fetch_add(1, Ordering::Relaxed);
    // A `String`, not `format_args!`: a `format_args!` value cannot outlive its statement
    // before Rust 1.89, and the crate's MSRV is older.
    let message = format!(
        "contextvars: `{var_name}` set at {location} by tokio task {task}, which runs in its \
         worker thread's own context: the next unwrapped task on that thread will see the value. \
         Spawn it with `contextvars::spawn`, wrap the future with `with_current_context()`, or \
         build the runtime with `contextvars::tokio::inherit_on_spawn`."
    );
    assert!(MODE.load(Ordering::Relaxed) != PANIC, "{message}");
    if !PRINTED.replace(true) {
        eprintln!("{message}");
    }
}

/// The id of the tokio task the caller runs in, if that task runs in its worker thread's own
/// context: a plain `tokio::spawn` on a runtime without `inherit_on_spawn`, whose reads see no
/// request's values and whose writes leak. `None` outside a task, and inside any context of
/// the task's own (`contextvars::spawn`, a wrapped future, `Context::run`, a hooked runtime).
///
/// Integrations use it to report work that lost its context, as contextvars-tracing reports
/// such log events while the [leak check](set_leak_check) is on.
///
/// ```
/// use contextvars::tokio::task_without_context;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert!(task_without_context().is_none()); // `block_on`'s future is no task
/// assert!(tokio::spawn(async { task_without_context() }).await.unwrap().is_some());
/// assert!(contextvars::spawn(async { task_without_context() }).await.unwrap().is_none());
/// # });
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[must_use]
pub fn task_without_context() -> Option<::tokio::task::Id> {
    if !contextvars_core::__private::in_thread_context() {
        return None;
    }
    ::tokio::task::try_id()
}
