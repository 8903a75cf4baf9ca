//! Python's `contextvars` for Rust: request-scoped state that follows your code through threads
//! and async tasks.
//!
//! A [`ContextVar`] is a value that depends on the current [`Context`]. Every thread has a
//! current context, and so does every task wrapped by this crate; [`ContextVar::set`] binds a
//! value there and returns a [`Token`] that [`ContextVar::reset`] uses to put back what was there
//! before. [`copy_context`] takes an O(1) snapshot that code can later run in with
//! [`Context::run`]. This is PEP 567, with its exact semantics, and a typed, compiled API.
//!
//! ```
//! use contextvars::{copy_context, ContextVar};
//!
//! static REQUEST_ID: ContextVar<u64> = ContextVar::with_default("request_id", || 0);
//!
//! fn log(message: &str) -> String {
//!     format!("[request {}] {message}", REQUEST_ID.get())
//! }
//!
//! let token = REQUEST_ID.set(7);
//! assert_eq!(log("hello"), "[request 7] hello");
//!
//! let mut snapshot = copy_context();
//! REQUEST_ID.reset(token).unwrap();
//! assert_eq!(log("outside"), "[request 0] outside");
//! assert_eq!(snapshot.run(|| log("inside")), "[request 7] inside");
//! ```
//!
//! # What flows where
//!
//! | where code runs | what it sees | its changes |
//! |---|---|---|
//! | after an `.await`, in a task wrapped by this crate | the task's own context, as it left it | stay in the task, on whichever worker thread it resumes |
//! | inside [`Context::run`] / `fut.with_context(ctx)` | exactly `ctx`, with every change at once | stay in `ctx` |
//! | a future wrapped with `with_current_context()`, a sibling in `join_all` | a snapshot taken when it was wrapped | stay in its own copy: siblings and the caller never see them |
//! | a task from `contextvars::spawn`, a closure from `spawn_blocking` (feature `tokio`) | a snapshot taken at the call | never flow back to the spawner |
//! | a thread from [`thread::spawn`] | a snapshot taken at the call | never flow back |
//! | a thread from [`std::thread::spawn`] | an empty context | never flow back |
//! | a closure from [`bind`] (each call of one from [`bind_each`]), on any thread or pool | a snapshot taken when it was made | never flow back |
//! | a snapshot ([`copy_context`], [`Context::clone`]) | the bindings at the moment it was taken | changes on either side are invisible to the other |
//! | a future that is **not** wrapped | whatever context the worker thread polling it has, shared with every other unwrapped future polled there | land in that thread's context, where the next unwrapped task sees them |
//!
//! Children (spawned tasks and threads, wrapped futures) get the snapshot *minus* the variables
//! declared `inherit = false` ([`ContextVar::inherit`]), which start from their default there:
//! the place for a transaction or a session that must not leak into background work.
//! [`copy_context`] and [`Context::run`] always see everything.
//!
//! The last row is the one to design around: under an async runtime, spawn through
//! `contextvars::spawn` (or wrap with `with_current_context()` before handing a future to any
//! executor), so that every task starts from an explicit context and never from what its worker
//! thread last held. With feature `tokio`, `contextvars::tokio` has the rest: a `JoinSet` and
//! `spawn_on` in the caller's context, `ContextExecutor` for the tasks hyper spawns (feature
//! `hyper`), `inherit_on_spawn` to give every task of a runtime its spawner's context as
//! asyncio does (with `--cfg tokio_unstable`), and a check that reports a write from a task
//! that has no context of its own (switched on by `tokio::set_leak_check`).
//!
//! # Python to Rust
//!
//! | Python | Rust |
//! |---|---|
//! | `ContextVar('v')`, `ContextVar('v', default=d)` | [`ContextVar::new`], [`ContextVar::with_default`] (both `const`) |
//! | `v.get()`, `v.get(fallback)` | [`ContextVar::get`] / [`ContextVar::try_get`], [`ContextVar::get_or`]; [`ContextVar::with`] borrows |
//! | `tok = v.set(x)`, `v.reset(tok)` | [`ContextVar::set`] → [`Token`], [`ContextVar::reset`] → `Result<(), ResetError>` |
//! | `with v.set(x):` (3.14) | [`ContextVar::set_guard`], [`ContextVar::scope`] |
//! | `copy_context()`, `Context()`, `ctx.copy()` | [`copy_context`], [`Context::new`], [`Context::clone`] |
//! | `ctx.run(f)` | [`Context::run`] |
//! | `ctx[v]`, `v in ctx`, `len(ctx)`, `ctx.items()` | [`Context::get`], [`Context::contains`], [`Context::len`], [`Context::iter`] |
//! | `LookupError`, `ValueError` from `reset` | [`LookupError`], [`ResetError`] with [`ResetErrorKind`] |
//!
//! What Rust makes impossible: using a token twice (`reset` takes it by value) and entering a
//! context that is already entered (`run` takes `&mut self`).
//!
//! ```compile_fail
//! use contextvars::ContextVar;
//! static V: ContextVar<u8> = ContextVar::new("v");
//! let token = V.set(1);
//! V.reset(token).unwrap();
//! V.reset(token).unwrap(); // error[E0382]: use of moved value: `token`
//! ```
//!
//! Values must be `Send + Sync + 'static`; a [`Context`] is `Send + Sync` and moves between
//! threads with its task. Values are shared between the contexts that hold them, never cloned
//! by the library, and dropped with the last context holding them.
//!
//! # Feature flags
//!
//! None is enabled by default.
//!
//! - `tokio`: [`spawn`], [`spawn_blocking`] and [`spawn_local`], tokio's spawn functions with
//!   each task in a copy of the caller's context, and the [`tokio`] module: a `JoinSet` and
//!   `spawn_on` in the caller's context, a check that reports writes left in a worker
//!   thread's own context (off until `tokio::set_leak_check` switches it on: features add API,
//!   never behaviour), and (with `--cfg tokio_unstable`) `inherit_on_spawn`, which puts every
//!   task of a runtime in a copy of its spawner's context.
//! - `hyper`: `tokio::ContextExecutor`, hyper's executor for the tasks hyper and hyper-util
//!   spawn, each in the context it was spawned from (enables `tokio`).
//! - `futures`: [`StreamExt`], streams that run every `poll_next` in their own context.
//! - `baggage`: the `baggage` module, variables declared `propagate` as a W3C baggage header
//!   and in any carrier of string metadata (job queues).
//! - `serde`: `Serialize` and `Deserialize` for `baggage::Baggage`, to embed the propagated
//!   variables in a job's payload (enables `baggage`).
//!
//! # The crates around it
//!
//! - [`contextvars-tower`](https://docs.rs/contextvars-tower): tower layers that run every
//!   HTTP request in its own context, set variables from headers and incoming baggage, poll
//!   streaming bodies in the request's context, and send propagated variables on outgoing
//!   requests.
//! - [`contextvars-tracing`](https://docs.rs/contextvars-tracing): context variables on every
//!   `tracing` log line, text or JSON, and on every span; and `tracing`'s current span carried
//!   through every hand-off with the variables.
//! - [`contextvars-opentelemetry`](https://docs.rs/contextvars-opentelemetry): a W3C baggage
//!   `TextMapPropagator` for the variables declared `propagate`, and OpenTelemetry's current
//!   context carried through every hand-off with the variables.
//!
//! Other libraries with a thread-local "current" of their own ride along the same way, through
//! [`companion`].
//! - [`contextvars-rayon`](https://docs.rs/contextvars-rayon): rayon's parallel iterators,
//!   `join`, `scope` and `spawn` in the caller's context.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub use contextvars_core::{
    Context, ContextTemplate, ContextVar, Iter, LookupError, ResetError, ResetErrorKind, SetGuard,
    TemplateItems, Token, VarInfo, VarSet, bind, bind_each, companion, copy_context, propagate,
    registry, reset_all, thread,
};

#[cfg(feature = "baggage")]
#[cfg_attr(docsrs, doc(cfg(feature = "baggage")))]
pub mod baggage;

/// Futures and streams in their own context, and sibling futures each in a copy of the
/// caller's.
pub use contextvars_core::{FutureExt, JoinAll, WithContext, join_all};

#[cfg(feature = "futures")]
#[cfg_attr(docsrs, doc(cfg(feature = "futures")))]
pub use contextvars_core::StreamExt;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use tokio::{spawn, spawn_blocking, spawn_local};

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;

/// Declares a context variable with a typed default and registers it, so that
/// `reset_module!`, `get_context_vars!`, `module_vars!`, `contextvars::registry::all()` and
/// `contextvars::reset_all()` can find it.
///
/// ```
/// use contextvars::context_var;
///
/// /// The id of the request being handled.
/// #[context_var(default = 0)]
/// pub static REQUEST_ID: u64;
///
/// #[context_var(default = Vec::<String>::new())]
/// static ROLES: Vec<String>;
///
/// assert_eq!(REQUEST_ID.get(), 0);
/// let _token = REQUEST_ID.set(7);
/// assert_eq!(REQUEST_ID.get(), 7);
/// assert_eq!(REQUEST_ID.name(), "REQUEST_ID");
/// assert!(ROLES.get().is_empty());
/// assert_eq!(REQUEST_ID_DEFAULT(), 0);
/// ```
///
/// `#[context_var(default = EXPR)] [attrs] [vis] static NAME: T;` expands to
///
/// - `[attrs] [vis] static NAME: ContextVar<T>`, a variable named `"NAME"` whose default is
///   made by `NAME_DEFAULT`;
/// - `[vis] fn NAME_DEFAULT() -> T { EXPR }`, documented, so `#![deny(missing_docs)]` crates
///   build. `EXPR` may be any expression (`String::from("guest")`, `HashMap::new()`), not only
///   a constant one; it runs the first time the default is read, and again at each reset;
/// - a link-time registration of `NAME` under the module it is declared in
///   (`module_path!()`).
///
/// # Arguments
///
/// - `default = EXPR` (required): the default value.
/// - `inherit = false`: tasks and threads started through contextvars' helpers do not inherit
///   the variable; it starts from its default there (see `ContextVar::inherit`).
/// - `propagate`, or `propagate = "key"`: the variable travels to other services as a member
///   of the W3C `baggage` header (under its name, or under `key`), and into job metadata,
///   through `contextvars::baggage`, `contextvars_tower` and `contextvars_opentelemetry`.
///   Nothing that is not declared `propagate` ever leaves the process. `T` must implement
///   `Display` and `FromStr` (and `Clone`), or be given a pair of functions with
///   `to_text = f, from_text = g`, where `f: fn(&T) -> String` and
///   `g: fn(&str) -> Option<T>` (`None` for a text that is not a valid value). Receivers only
///   take the keys they are told to trust; never propagate a secret. Give each propagated
///   variable of a program its own key: of two with the same key, only one travels.
/// - `crate = path`: where the `contextvars` crate is, for crates that re-export it
///   (`crate = my_framework::contextvars`). Default `::contextvars`.
///
/// # Types
///
/// Values must be `Send + Sync + 'static`. In `T`, elided lifetimes of references and `'_`
/// mean `'static` (`&str` is `&'static str`); a lifetime hidden in a path must be written out:
/// `Cow<'static, str>`, not `Cow<str>`.
///
/// # Limits
///
/// - A variable declared inside a function body registers under the enclosing module.
/// - `static mut`, an initializer (`= ...`) and items other than `static` are compile errors.
/// - The name `NAME_DEFAULT` is taken in the module.
/// - A crate that the final binary never names is not linked, and its variables are not in the
///   registry: name it (`use my_vars as _;`) when only the registry would reach it.
pub use contextvars_macros::context_var;

/// Runs a test in a fresh, empty context of its own: every variable reads its default when the
/// test starts, and nothing the test sets outlives it, whichever thread the test harness runs
/// it on and whatever ran there before.
///
/// On a plain function it stands for `#[test]`. On an `async fn`, put it above the runtime's
/// own test attribute, which it composes with: the whole test future runs in the fresh
/// context, so it is there after every `.await`.
///
/// ```
/// use contextvars::ContextVar;
///
/// static USER: ContextVar<&str> = ContextVar::with_default("user", || "nobody");
///
/// #[contextvars::test]
/// fn starts_from_the_defaults() {
///     assert_eq!(USER.get(), "nobody");
///     USER.set("Dina"); // gone when the test ends
/// }
///
/// #[contextvars::test]
/// #[tokio::test]
/// async fn async_tests_too() {
///     USER.set("Dina");
///     tokio::task::yield_now().await;
///     assert_eq!(USER.get(), "Dina");
/// }
///
/// #[contextvars::test]
/// fn results_and_question_marks_work() -> Result<(), std::num::ParseIntError> {
///     let n: u32 = "7".parse()?;
///     assert_eq!(n, 7);
///     Ok(())
/// }
/// # fn main() {}
/// ```
///
/// Another attribute whose name ends in `test` (`#[test]`, `#[tokio::test]`) means the
/// function is already a test, and no `#[test]` is added. `#[should_panic]`, `#[ignore]` and
/// other attributes are kept.
///
/// # Arguments
///
/// - `crate = path`: where the `contextvars` crate is, for crates that re-export it. Default
///   `::contextvars`.
/// - `tokio` (a current-thread runtime) or `tokio = "multi_thread"`: on an `async fn`, in place
///   of `#[tokio::test]`, builds the runtime with every task in its own context, as
///   [`main`](macro@main) does (the task hooks need `--cfg tokio_unstable`; feature `tokio`;
///   an example is in `main`'s documentation).
pub use contextvars_macros::test;

/// Runs `async fn main` on a tokio runtime whose every task runs in its own context, starting
/// from a fresh, empty context: `#[tokio::main]` with `contextvars::tokio::inherit_on_spawn`.
///
/// With `--cfg tokio_unstable` (tokio's task hooks exist only then), every task of the
/// runtime, also one a library spawns with a plain `tokio::spawn`, starts from a copy of its
/// spawner's context and keeps its own. Without it, the runtime is the one `#[tokio::main]`
/// builds: spawn with `contextvars::spawn` to give tasks the caller's context.
///
/// ```
/// use contextvars::ContextVar;
///
/// static REQUEST_ID: ContextVar<u32> = ContextVar::with_default("request_id", || 0);
///
/// #[contextvars::main]
/// async fn main() {
///     REQUEST_ID.set(7);
///     let child = contextvars::spawn(async { REQUEST_ID.get() });
///     assert_eq!(child.await.unwrap(), 7);
/// }
/// ```
///
/// # Arguments
///
/// - `flavor = "multi_thread"` (the default) or `"current_thread"`, and `worker_threads = N`,
///   as for `#[tokio::main]`;
/// - `crate = path`: where the `contextvars` crate is, for crates that re-export it.
///
/// Needs the `contextvars` feature `tokio`, and tokio's `rt-multi-thread` for the default
/// flavour.
///
/// The same runtime for an async test, in place of `#[tokio::test]`:
///
/// ```
/// use contextvars::ContextVar;
///
/// static USER: ContextVar<&str> = ContextVar::with_default("user", || "nobody");
///
/// #[contextvars::test(tokio)]
/// async fn tasks_start_from_the_test_s_context() {
///     USER.set("Dina");
///     assert_eq!(contextvars::spawn(async { USER.get() }).await.unwrap(), "Dina");
/// }
/// # fn main() {}
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use contextvars_macros::main;

mod macros;

/// Not public API, used by generated code.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "tokio")]
    pub use crate::tokio::__install_task_hooks as install_task_hooks;
    #[cfg(feature = "tokio")]
    pub use ::tokio as tokio_crate;
    pub use contextvars_core::__private::*;
    pub use contextvars_macros::{get_context_vars_in, module_vars_in, reset_module_in};
}
