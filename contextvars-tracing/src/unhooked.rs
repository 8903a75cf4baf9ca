//! Log events from tokio tasks that run in their worker thread's own context, reported.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use contextvars::tokio::{LeakCheck, leak_check, task_without_context};
use tracing::Metadata;
use tracing::callsite::Identifier;

static EVENTS: AtomicU64 = AtomicU64::new(0);
static REPORTED: Mutex<Option<HashSet<Identifier>>> = Mutex::new(None);

/// How many log events [`ContextFields`](crate::ContextFields) has formatted, since the
/// process started, from a tokio task that runs in its worker thread's own context, while the
/// leak check was on (feature `tokio`).
///
/// Such a task (a plain `tokio::spawn` on a runtime without `inherit_on_spawn`) sees no
/// request's variables, so its lines carry none of them. While
/// [`contextvars::tokio::set_leak_check`] is on (`Report` or `Panic`), each such event is
/// counted here and the first one of each call site is reported on standard error, as the
/// leak check reports writes; the line itself is written as usual.
///
/// ```
/// use contextvars::tokio::{LeakCheck, set_leak_check};
/// use contextvars_tracing::{ContextFields, unhooked_events};
///
/// set_leak_check(LeakCheck::Report);
/// let subscriber = tracing_subscriber::fmt()
///     .event_format(ContextFields::new())
///     .with_writer(std::io::sink)
///     .finish();
/// let _default = tracing::subscriber::set_default(subscriber);
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let before = unhooked_events();
/// tokio::spawn(async { tracing::info!("lost") }).await.unwrap();
/// contextvars::spawn(async { tracing::info!("kept") }).await.unwrap();
/// assert_eq!(unhooked_events(), before + 1);
/// # });
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub fn unhooked_events() -> u64 {
    EVENTS.load(Ordering::Relaxed)
}

/// Counts and reports an event from a task without a context of its own.
#[inline]
pub(crate) fn check(metadata: &'static Metadata<'static>) {
    if leak_check() == LeakCheck::Off {
        return;
    }
    report(metadata);
}

#[cold]
#[inline(never)]
fn report(metadata: &'static Metadata<'static>) {
    let Some(task) = task_without_context() else {
        return;
    };
    EVENTS.fetch_add(1, Ordering::Relaxed);
    let first = REPORTED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashSet::new)
        .insert(metadata.callsite());
    if first {
        eprintln!(
            "contextvars-tracing: an event at {}:{} was logged by tokio task {task}, which runs \
             in its worker thread's own context: its lines carry none of the request's \
             variables. Spawn it with `contextvars::spawn`, wrap the future with \
             `with_current_context()`, or build the runtime with \
             `contextvars::tokio::inherit_on_spawn` (`#[contextvars::main]`).",
            metadata.file().unwrap_or("?"),
            metadata.line().unwrap_or(0),
        );
    }
}
