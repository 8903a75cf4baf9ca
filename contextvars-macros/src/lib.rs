//! Procedural macros of the [`contextvars`](https://docs.rs/contextvars) crate:
//! `#[context_var]`, `reset_module!`, `get_context_vars!` and `#[contextvars::test]`.
//!
//! Depend on `contextvars`, which re-exports them: `#[context_var]` directly, the module macros
//! through `macro_rules!` wrappers that pass their `$crate` on, so a renamed dependency resolves.

mod args;
mod declaration;
mod expand;
mod fallback;
mod module_macros;
mod module_path;
mod test_attr;
mod ty;
mod valid;

use proc_macro::TokenStream;

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
#[proc_macro_attribute]
pub fn context_var(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::context_var(args.into(), item.into()).into()
}

/// Not public API: `contextvars::reset_module!` forwards here with its `$crate` first.
#[doc(hidden)]
#[proc_macro]
pub fn reset_module_in(input: TokenStream) -> TokenStream {
    module_macros::reset_module(input.into()).into()
}

/// Not public API: `contextvars::get_context_vars!` forwards here with its `$crate` first.
#[doc(hidden)]
#[proc_macro]
pub fn get_context_vars_in(input: TokenStream) -> TokenStream {
    module_macros::get_context_vars(input.into()).into()
}

/// Not public API: `contextvars::module_vars!` forwards here with its `$crate` first.
#[doc(hidden)]
#[proc_macro]
pub fn module_vars_in(input: TokenStream) -> TokenStream {
    module_macros::module_vars(input.into()).into()
}

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
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    test_attr::test(args.into(), item.into()).into()
}
