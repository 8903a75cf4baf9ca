//! OpenTelemetry's current `Context`, carried with the context variables through every
//! hand-off.

use std::cell::RefCell;

use contextvars::companion::{self, Companion};
use opentelemetry::{Context, ContextGuard};

/// Makes the OpenTelemetry [`Context`] that is current where work is handed off the current
/// one where it runs, wherever the context variables go: one line of setup, once per process.
///
/// After it, every context made for a hand-off carries [`Context::current`] taken there
/// (`contextvars::spawn`, `spawn_on`, `spawn_blocking`, `spawn_local`, `JoinSet`,
/// `ContextExecutor`, tasks under `inherit_on_spawn`, contextvars-rayon, `bind`, `bind_each`,
/// `with_current_context`, `Context::inherited()` for a job, contextvars-tower's `ContextBody`)
/// and attaches it whenever that context is current, as OpenTelemetry's context follows every
/// task in Python and Node: no `.with_context(cx)` on every future. With tracing and
/// tracing-opentelemetry, `contextvars_tracing::carry_spans` carries the tracing span, whose
/// OpenTelemetry context tracing-opentelemetry attaches when it is entered; this carries
/// contexts attached directly, and both can be set up.
///
/// Returns `false` when it was set up already.
///
/// ```
/// use opentelemetry::{Context, KeyValue};
/// use opentelemetry::baggage::BaggageExt;
///
/// contextvars_opentelemetry::carry_context();
///
/// let cx = Context::current_with_baggage([KeyValue::new("tenant", "acme")]);
/// let job = {
///     let _attached = cx.attach();
///     contextvars::bind(|| Context::current().baggage().get("tenant").map(|v| v.to_string()))
/// };
/// // The job runs on another thread, in the context attached at the hand-off.
/// assert_eq!(std::thread::spawn(job).join().unwrap().as_deref(), Some("acme"));
/// ```
pub fn carry_context() -> bool {
    companion::register(CurrentContext)
}

/// The [companion](contextvars::companion) that [`carry_context`] registers: a context carries
/// the OpenTelemetry [`Context`] current where it was made, and attaches it wherever it runs.
///
/// Replace what a context carries with
/// [`set_companion_state`](contextvars::Context::set_companion_state), e.g. to run a job under
/// the OpenTelemetry context extracted from its metadata.
#[derive(Clone, Copy, Debug, Default)]
pub struct CurrentContext;

thread_local! {
    /// The guards of the contexts this thread attached, innermost last.
    static ATTACHED: RefCell<Vec<ContextGuard>> = const { RefCell::new(Vec::new()) };
}

impl Companion for CurrentContext {
    type State = Context;

    fn capture(&self) -> Option<Context> {
        Some(Context::current())
    }

    fn enter(&self, cx: &Context) {
        let guard = cx.clone().attach();
        // At thread exit, once the stack is gone, the guard is dropped at once: the context is
        // left attached for no time rather than for ever.
        let _ = ATTACHED.try_with(|attached| attached.borrow_mut().push(guard));
    }

    fn exit(&self, _cx: &Context) {
        // Calls are nested per thread, so the last guard is this context's; dropped outside the
        // borrow, as dropping it may run a span's destructor.
        let guard = ATTACHED.try_with(|attached| attached.borrow_mut().pop());
        drop(guard);
    }
}
