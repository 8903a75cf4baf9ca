//! Companions: other thread-local context systems that ride in contexts.
//!
//! Many libraries keep a "current something" of their own in a thread-local: `tracing`'s
//! current span, OpenTelemetry's current `Context`, an error reporter's hub, a logging MDC.
//! Each of them stays behind when work moves to another task or thread, unless every hand-off
//! carries it by hand. A [`Companion`] lets such a system ride along with the context variables
//! instead, through every hand-off they already take:
//!
//! - when a context is made for a hand-off ([`copy_context`](crate::copy_context) and
//!   [`Context::inherited`], so `with_current_context`, `bind`, `bind_each`, the spawn helpers,
//!   `JoinSet`, the hyper executor, tasks under `inherit_on_spawn`, parallel iterators and
//!   everything built on them), each registered companion [captures](Companion::capture) its
//!   current state into the new context;
//! - whenever a context becomes current on a thread ([`Context::run`], every poll of a wrapped
//!   future or of a hooked task, a bound closure, a template run), each state it carries is
//!   [entered](Companion::enter), and [left](Companion::exit) when the context stops being
//!   current, on the same thread, innermost first.
//!
//! This is what .NET's `AsyncLocal` change notifications, Kotlin's `ThreadContextElement`
//! (`updateThreadContext` / `restoreThreadContext` around every resumption) and CPython's
//! context watchers do; it is how OpenTelemetry's current context follows every asyncio task
//! in Python.
//!
//! A context that carries nothing for a companion ([`Context::new`], a context captured
//! before the companion was registered, or one whose capture returned `None`) leaves that
//! companion's thread state as it is while current. [`Context::clone`] carries the same states
//! as the original; [`Context::set_companion_state`] replaces one.
//!
//! # Writing one
//!
//! A logging MDC (a per-thread map of fields that every log line carries), made to follow
//! requests across threads:
//!
//! ```
//! # use contextvars_core as contextvars;
//! use std::cell::RefCell;
//! use std::collections::BTreeMap;
//!
//! use contextvars::companion::{self, Companion};
//!
//! type Fields = BTreeMap<&'static str, String>;
//!
//! thread_local! {
//!     // The library's own thread state, and the states it replaced while contexts were current.
//!     static MDC: RefCell<Fields> = RefCell::default();
//!     static SAVED: RefCell<Vec<Fields>> = RefCell::default();
//! }
//!
//! fn mdc_put(key: &'static str, value: &str) {
//!     MDC.with(|mdc| mdc.borrow_mut().insert(key, value.to_owned()));
//! }
//! fn mdc_get(key: &str) -> Option<String> {
//!     MDC.with(|mdc| mdc.borrow().get(key).cloned())
//! }
//!
//! struct Mdc;
//!
//! impl Companion for Mdc {
//!     type State = Fields;
//!
//!     fn capture(&self) -> Option<Fields> {
//!         let fields = MDC.with(|mdc| mdc.borrow().clone());
//!         (!fields.is_empty()).then_some(fields)
//!     }
//!     fn enter(&self, state: &Fields) {
//!         let previous = MDC.with(|mdc| mdc.replace(state.clone()));
//!         SAVED.with(|saved| saved.borrow_mut().push(previous));
//!     }
//!     fn exit(&self, _state: &Fields) {
//!         // Calls are nested per thread: the last state saved is the one to restore.
//!         if let Some(previous) = SAVED.with(|saved| saved.borrow_mut().pop()) {
//!             MDC.with(|mdc| *mdc.borrow_mut() = previous);
//!         }
//!     }
//! }
//!
//! // Once, at start-up.
//! companion::register(Mdc);
//!
//! mdc_put("request_id", "r-7");
//! // A hand-off: the closure runs on another thread in a context captured here.
//! let job = contextvars::bind(|| mdc_get("request_id"));
//! let seen = std::thread::spawn(job).join().unwrap();
//! assert_eq!(seen.as_deref(), Some("r-7"));
//! ```
//!
//! A system whose "enter" returns a guard (OpenTelemetry's `Context::attach`, tracing's
//! `Span::enter`) keeps the guards in a thread-local stack the same way: push in
//! [`enter`](Companion::enter), pop and drop in [`exit`](Companion::exit).
//!
//! An error reporter's hub (Sentry's `Hub`, with its scope of tags and breadcrumbs) is the
//! same shape: `State` is the hub (`Arc<Hub>`), [`capture`](Companion::capture) takes the
//! thread's current hub, or a fresh child of it so that what a task adds stays in that task,
//! [`enter`](Companion::enter) makes the state the thread's current hub and saves the one it
//! replaced, and [`exit`](Companion::exit) puts that one back. An event reported from a spawned
//! task or a pool thread then carries the request's scope. contextvars-tracing
//! (`carry_spans`) and contextvars-opentelemetry (`carry_context`) are companions written this
//! way.
//!
//! # Cost
//!
//! With no companion registered, taking a context costs one relaxed atomic load more, and
//! entering one a branch on a field of the context. With companions, each capture calls every
//! companion's `capture` and allocates the states, and each switch makes one virtual call per
//! carried state on the way in and one on the way out.
//!
//! # Rules for implementations
//!
//! - `enter` and `exit` run on the thread that switches contexts, inside the context being
//!   entered or left: they may read and set variables, and enter other contexts as long as they
//!   leave them before returning.
//! - They must not panic: a panic in `exit` while a panic unwinds aborts the process. A panic
//!   in `enter` leaves the context unentered (the companions entered before it are left).
//! - `capture` runs on the thread that makes the context, inside the context being copied.
//! - At most 16 companions can be registered in a process; registering is permanent.

use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use triomphe::ThinArc;

use crate::Context;

/// Another thread-local context system that rides in contexts; see the [module
/// documentation](self).
pub trait Companion: Send + Sync + 'static {
    /// What a context carries for this companion: the current span, a hub, a map of fields.
    type State: Send + Sync + 'static;

    /// This thread's current state, for a context being made for a hand-off, or `None` to carry
    /// nothing.
    fn capture(&self) -> Option<Self::State>;

    /// A context carrying `state` became current on this thread: make `state` current too.
    fn enter(&self, state: &Self::State);

    /// The context entered with `state` stops being current: restore what `enter` replaced.
    /// Every `enter` is followed by exactly one `exit` on the same thread, innermost first.
    fn exit(&self, state: &Self::State);
}

/// How many companions a process can register.
const CAPACITY: usize = 16;

/// The registered companions: slots `0..COUNT` are set, each once.
static SLOTS: [OnceLock<Registered>; CAPACITY] = [const { OnceLock::new() }; CAPACITY];
static COUNT: AtomicUsize = AtomicUsize::new(0);
static REGISTER: Mutex<()> = Mutex::new(());

struct Registered {
    type_id: TypeId,
    companion: &'static dyn ErasedCompanion,
}

/// Registers `companion`, so that contexts made from now on carry its state and enter it.
///
/// Returns `false`, and drops `companion`, when a companion of the same type is registered
/// already: calling a library's setup twice is harmless.
///
/// # Panics
/// When 16 companions of other types are registered already.
#[track_caller]
pub fn register<C: Companion>(companion: C) -> bool {
    let _lock = REGISTER.lock().unwrap_or_else(PoisonError::into_inner);
    let count = COUNT.load(Ordering::Relaxed);
    if find(TypeId::of::<C>()).is_some() {
        return false;
    }
    assert!(
        count < CAPACITY,
        "contextvars: at most {CAPACITY} companions can be registered"
    );
    let companion: &'static C = Box::leak(Box::new(companion));
    let registered = Registered {
        type_id: TypeId::of::<C>(),
        companion,
    };
    if SLOTS[count].set(registered).is_err() {
        unreachable!("companion slots are set once, under the lock");
    }
    COUNT.store(count + 1, Ordering::Release);
    true
}

/// Whether a companion of type `C` is registered.
#[must_use]
pub fn is_registered<C: Companion>() -> bool {
    find(TypeId::of::<C>()).is_some()
}

fn registered() -> impl Iterator<Item = &'static Registered> {
    let count = COUNT.load(Ordering::Acquire);
    SLOTS[..count].iter().filter_map(OnceLock::get)
}

fn find(type_id: TypeId) -> Option<&'static dyn ErasedCompanion> {
    registered()
        .find(|registered| registered.type_id == type_id)
        .map(|registered| registered.companion)
}

/// What a context carries: one state per companion that captured one. A thin pointer, so that
/// a context grows by one word, to the states themselves (no vector in between): entering
/// reaches a state in one load.
pub(crate) type Carried = Option<ThinArc<(), Carrying>>;

/// One companion's state in a context, with the functions that enter and leave it resolved
/// when it was made: a switch calls them directly, with no vtable to read on the way.
#[derive(Clone)]
pub(crate) struct Carrying {
    enter: unsafe fn(*const ()),
    exit: unsafe fn(*const ()),
    /// The `State<C>` that `state` holds, for `enter` and `exit`.
    data: *const (),
    state: Arc<dyn CarriedState>,
}

// SAFETY: `data` points into the `State<C>` that `state` owns, which is `Send + Sync`
// (`Companion` and its `State` are); the functions are plain function pointers.
unsafe impl Send for Carrying {}
// SAFETY: as for `Send`.
unsafe impl Sync for Carrying {}

impl Carrying {
    fn new<C: Companion>(state: State<C>) -> Carrying {
        /// # Safety
        /// `data` must point to a live `State<C>`.
        unsafe fn enter<C: Companion>(data: *const ()) {
            // SAFETY: the caller's guarantee.
            let state = unsafe { &*data.cast::<State<C>>() };
            state.companion.enter(&state.state);
        }

        /// # Safety
        /// As for `enter`.
        unsafe fn exit<C: Companion>(data: *const ()) {
            // SAFETY: the caller's guarantee.
            let state = unsafe { &*data.cast::<State<C>>() };
            state.companion.exit(&state.state);
        }

        let state = Arc::new(state);
        Carrying {
            enter: enter::<C>,
            exit: exit::<C>,
            data: Arc::as_ptr(&state).cast(),
            state,
        }
    }

    #[inline]
    fn enter(&self) {
        // SAFETY: `data` points to the `State<C>` that `self.state` keeps alive, and `enter`
        // was made for that `C` in `new` (a clone copies all three together).
        unsafe { (self.enter)(self.data) }
    }

    #[inline]
    fn exit(&self) {
        // SAFETY: as in `enter`.
        unsafe { (self.exit)(self.data) }
    }
}

/// The states a context carries, as a slice.
#[inline]
pub(crate) fn states(carried: &Carried) -> Option<&[Carrying]> {
    carried.as_deref().map(|states| &states.slice)
}

/// The states of the registered companions, for a context being made now. With none
/// registered, one relaxed load.
#[inline]
pub(crate) fn capture() -> Carried {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return None;
    }
    capture_registered()
}

#[cold]
#[inline(never)]
fn capture_registered() -> Carried {
    let states: Vec<Carrying> = registered()
        .filter_map(|registered| registered.companion.capture())
        .collect();
    if states.is_empty() {
        None
    } else {
        Some(ThinArc::from_header_and_iter((), states.into_iter()))
    }
}

/// Enters every state of `carried`, first to last. If one panics, those entered before it
/// are left again and the panic continues.
#[allow(clippy::inline_always)] // measured: left to the inliner, a poll called it out of line
#[inline(always)]
pub(crate) fn enter_all(carried: &[Carrying]) {
    // One state, the common case (one companion registered): nothing to leave if it panics.
    if let [state] = carried {
        state.enter();
    } else {
        enter_each(carried);
    }
}

#[inline(never)]
fn enter_each(carried: &[Carrying]) {
    struct Unwind<'a> {
        entered: &'a [Carrying],
    }

    impl Drop for Unwind<'_> {
        fn drop(&mut self) {
            exit_all(self.entered);
        }
    }

    for (i, state) in carried.iter().enumerate() {
        let unwind = Unwind {
            entered: &carried[..i],
        };
        state.enter();
        std::mem::forget(unwind);
    }
}

/// Leaves every state of `carried`, last to first.
#[allow(clippy::inline_always)] // as `enter_all`
#[inline(always)]
pub(crate) fn exit_all(carried: &[Carrying]) {
    if let [state] = carried {
        state.exit();
    } else {
        exit_each(carried);
    }
}

#[inline(never)]
fn exit_each(carried: &[Carrying]) {
    for state in carried.iter().rev() {
        state.exit();
    }
}

/// A registered companion, with its type erased.
trait ErasedCompanion: Send + Sync {
    fn capture(&'static self) -> Option<Carrying>;
    fn as_any(&'static self) -> &'static dyn Any;
}

impl<C: Companion> ErasedCompanion for C {
    fn capture(&'static self) -> Option<Carrying> {
        let state = Companion::capture(self)?;
        Some(Carrying::new(State {
            companion: self,
            state,
        }))
    }

    fn as_any(&'static self) -> &'static dyn Any {
        self
    }
}

/// One companion's state in a context, with its type erased.
trait CarriedState: Send + Sync {
    fn companion_type(&self) -> TypeId;
    fn state(&self) -> &dyn Any;
}

struct State<C: Companion> {
    companion: &'static C,
    state: C::State,
}

impl<C: Companion> CarriedState for State<C> {
    fn companion_type(&self) -> TypeId {
        TypeId::of::<C>()
    }

    fn state(&self) -> &dyn Any {
        &self.state
    }
}

impl Context {
    /// The state this context carries for the companion `C`, if any.
    ///
    /// ```
    /// # use contextvars_core as contextvars;
    /// use contextvars::companion::{self, Companion};
    /// use contextvars::Context;
    ///
    /// struct Tag;
    /// impl Companion for Tag {
    ///     type State = &'static str;
    ///     fn capture(&self) -> Option<&'static str> {
    ///         Some("captured")
    ///     }
    ///     fn enter(&self, _: &&'static str) {}
    ///     fn exit(&self, _: &&'static str) {}
    /// }
    ///
    /// assert_eq!(Context::inherited().companion_state::<Tag>(), None); // not registered yet
    /// companion::register(Tag);
    /// assert_eq!(Context::inherited().companion_state::<Tag>(), Some(&"captured"));
    /// assert_eq!(Context::new().companion_state::<Tag>(), None); // an empty context
    /// ```
    #[must_use]
    pub fn companion_state<C: Companion>(&self) -> Option<&C::State> {
        states(&self.carried)?
            .iter()
            .find(|carrying| carrying.state.companion_type() == TypeId::of::<C>())?
            .state
            .state()
            .downcast_ref()
    }

    /// Replaces the state this context carries for the companion `C` (`None`: carry nothing),
    /// as when a job handed over from elsewhere should run under a span of its own. Returns
    /// `false`, changing nothing, when no companion of type `C` is registered.
    pub fn set_companion_state<C: Companion>(&mut self, state: Option<C::State>) -> bool {
        let Some(companion) = find(TypeId::of::<C>()) else {
            return false;
        };
        let Some(companion) = companion.as_any().downcast_ref::<C>() else {
            return false;
        };
        let mut kept: Vec<Carrying> = states(&self.carried)
            .unwrap_or_default()
            .iter()
            .filter(|carrying| carrying.state.companion_type() != TypeId::of::<C>())
            .cloned()
            .collect();
        if let Some(state) = state {
            kept.push(Carrying::new(State { companion, state }));
        }
        self.carried = if kept.is_empty() {
            None
        } else {
            Some(ThinArc::from_header_and_iter((), kept.into_iter()))
        };
        true
    }
}

#[cfg(test)]
mod tests {
    //! Entering and leaving companion states, also when a companion panics, for Miri.

    use std::cell::RefCell;

    use super::*;
    use crate::{ContextVar, copy_context};

    thread_local! {
        static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    fn log(entry: String) {
        LOG.with(|log| log.borrow_mut().push(entry));
    }

    fn take_log() -> Vec<String> {
        LOG.with(|log| std::mem::take(&mut *log.borrow_mut()))
    }

    /// Carries a name; entering a state named "panic" panics.
    struct Named;

    impl Companion for Named {
        type State = String;

        fn capture(&self) -> Option<String> {
            Some("captured".to_owned())
        }

        fn enter(&self, state: &String) {
            assert!(state != "panic", "enter panics");
            log(format!("enter {state}"));
        }

        fn exit(&self, state: &String) {
            log(format!("exit {state}"));
        }
    }

    /// Carries only a state it is given; logs as `Named` does.
    struct Given;

    impl Companion for Given {
        type State = String;

        fn capture(&self) -> Option<String> {
            None
        }

        fn enter(&self, state: &String) {
            log(format!("enter given {state}"));
        }

        fn exit(&self, state: &String) {
            log(format!("exit given {state}"));
        }
    }

    static V: ContextVar<u32> = ContextVar::new("v");

    #[test]
    fn states_are_entered_and_left_in_nested_order() {
        register(Named);
        let mut outer = copy_context();
        let mut inner = Context::new();
        assert!(inner.set_companion_state::<Named>(Some("inner".to_owned())));
        outer.run(|| inner.run(|| V.set(1)));
        assert_eq!(
            take_log(),
            [
                "enter captured",
                "enter inner",
                "exit inner",
                "exit captured"
            ]
        );
        assert_eq!(inner.get(&V), Some(1));
    }

    #[test]
    fn several_states_are_entered_in_order_and_left_in_reverse() {
        register(Named);
        register(Given);
        let mut ctx = Context::new();
        assert!(ctx.set_companion_state::<Named>(Some("a".to_owned())));
        assert!(ctx.set_companion_state::<Given>(Some("b".to_owned())));
        // Replacing one state keeps the other.
        assert!(ctx.set_companion_state::<Named>(Some("c".to_owned())));
        ctx.run(|| {});
        assert_eq!(
            take_log(),
            ["enter given b", "enter c", "exit c", "exit given b"]
        );
        // A panic in the second leaves the first again.
        assert!(ctx.set_companion_state::<Named>(Some("panic".to_owned())));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ctx.run(|| {})));
        assert!(result.is_err());
        assert_eq!(take_log(), ["enter given b", "exit given b"]);
    }

    #[test]
    fn a_panic_in_enter_leaves_the_context_unentered() {
        register(Named);
        let mut ctx = Context::new();
        assert!(ctx.set_companion_state::<Named>(Some("panic".to_owned())));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ctx.run(|| V.set(2));
        }));
        assert!(result.is_err());
        assert!(!V.is_set());
        assert_eq!(ctx.get(&V), None);
        assert!(take_log().is_empty());
        // The thread's context is usable afterwards.
        let _token = V.set(3);
        assert_eq!(V.get(), 3);
    }
}
