//! `tracing`'s current span, carried with the context variables through every hand-off.

use contextvars::companion::{self, Companion};
use tracing::Span;

/// Makes the span that is current where work is handed off the current span where it runs,
/// wherever the context variables go: one line of setup, once per process.
///
/// After it, every context made for a hand-off carries [`Span::current`] taken there
/// (`contextvars::spawn`, `spawn_on`, `spawn_blocking`, `spawn_local`, `JoinSet`,
/// `ContextExecutor`, tasks under `inherit_on_spawn`, contextvars-rayon, `bind`, `bind_each`,
/// `with_current_context`, `Context::inherited()` for a job, contextvars-tower's `ContextBody`),
/// and the span is entered whenever that context is current: spans created there are its
/// children, events are recorded in it, and with tracing-opentelemetry they belong to the same
/// trace. No `.instrument(Span::current())` at each hand-off.
///
/// Returns `false` when it was set up already. A context made before the call, or where no
/// span was current, leaves the current span alone.
///
/// ```
/// use tracing::Span;
///
/// contextvars_tracing::carry_spans();
/// # let subscriber = tracing_subscriber::registry();
/// # tracing::subscriber::set_global_default(subscriber).unwrap();
///
/// let request = tracing::info_span!("request");
/// let job = request.in_scope(|| contextvars::bind(|| Span::current().metadata().map(|m| m.name())));
/// // The job runs on another thread, in the request span.
/// assert_eq!(std::thread::spawn(job).join().unwrap(), Some("request"));
/// ```
pub fn carry_spans() -> bool {
    companion::register(CurrentSpan)
}

/// The [companion](contextvars::companion) that [`carry_spans`] registers: a context carries
/// the [`Span`] current where it was made, and enters it wherever it runs.
///
/// Read or replace what a context carries with
/// [`Context::companion_state`](contextvars::Context::companion_state) and
/// [`Context::set_companion_state`](contextvars::Context::set_companion_state), e.g. to run a
/// job under a span of its own:
///
/// ```
/// use contextvars::Context;
/// use contextvars_tracing::CurrentSpan;
///
/// contextvars_tracing::carry_spans();
/// let mut job = Context::inherited();
/// job.set_companion_state::<CurrentSpan>(Some(tracing::info_span!("job")));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CurrentSpan;

impl Companion for CurrentSpan {
    type State = Span;

    fn capture(&self) -> Option<Span> {
        let span = Span::current();
        (!span.is_none()).then_some(span)
    }

    #[inline]
    fn enter(&self, span: &Span) {
        // What `Span::enter` does, without a guard: the exit comes in `exit`.
        span.with_subscriber(|(id, dispatch)| dispatch.enter(id));
    }

    #[inline]
    fn exit(&self, span: &Span) {
        span.with_subscriber(|(id, dispatch)| dispatch.exit(id));
    }
}
