//! Procedural macros of the [`contextvars`](https://docs.rs/contextvars) crate:
//! `#[context_var]`, `reset_module!` and `get_context_vars!`.
//!
//! Depend on `contextvars`, which re-exports them; the expansions name `::contextvars`.

mod args;
mod declaration;
mod expand;
mod module_path;
mod ty;

use proc_macro::TokenStream;

/// Declares a context variable with a typed default and registers it, so that
/// [`reset_module!`], [`get_context_vars!`], `contextvars::registry::all()` and
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

/// Resets every variable declared with `#[context_var]` directly in a module to a fresh
/// default in the current context, in one update; evaluates to how many (`usize`).
///
/// ```
/// use contextvars::{context_var, reset_module};
///
/// mod request {
///     use contextvars::context_var;
///
///     #[context_var(default = 0)]
///     pub static ID: u64;
///
///     #[context_var(default = String::from("guest"))]
///     pub static USER: String;
/// }
///
/// let _id = request::ID.set(42);
/// let _user = request::USER.set("ada".to_owned());
/// assert_eq!(reset_module!(request), 2);
/// assert_eq!(request::ID.get(), 0);
/// assert_eq!(request::USER.get(), "guest");
/// ```
///
/// Resetting sets the defaults in the current context only: run inside `ctx.run(...)`, it
/// changes `ctx`, not the caller's context.
///
/// # Paths
///
/// `m`, `a::b`, `self`, `self::m`, `super`, `super::m`, `super::super::m`, `crate`,
/// `crate::a::b`, `::dep::m` and `dep::m`, as in a `use`. A path that does not exist or is not
/// a module is a compile error on the path. A bare path (`m::n`) is looked up as a child of the
/// calling module first, then as a crate.
///
/// The path is turned into the module's `module_path!()` text, and the registrations are looked
/// up once per call site. So:
///
/// - aliases (`use a::b as c;`), re-exports (`pub use`) and crates renamed in `Cargo.toml` or by
///   `extern crate x as y` are not followed: name the module where it is declared, by its
///   crate's real name;
/// - only variables declared directly in that module count, not those of its submodules;
///   `contextvars::reset_all()` resets every registered variable;
/// - `$crate` is not supported.
///
/// # Panics
///
/// When the module has no registered variable, with a message naming the resolved path: it is a
/// mistake (a typo, an alias, a module whose variables moved), never a silent no-op.
#[proc_macro]
pub fn reset_module(input: TokenStream) -> TokenStream {
    module_path::reset_module(input.into()).into()
}

/// The variables declared with `#[context_var]` directly in one or more modules, as a
/// `contextvars::VarSet`, after resetting them to fresh defaults in the current context
/// (Python's `get_context_vars`). Call it once, keep the set, and `reset()` it at the start of
/// each request.
///
/// ```
/// use contextvars::{context_var, get_context_vars};
///
/// mod request {
///     use contextvars::context_var;
///
///     #[context_var(default = 0)]
///     pub static ID: u64;
/// }
///
/// mod user {
///     use contextvars::context_var;
///
///     #[context_var(default = None)]
///     pub static NAME: Option<String>;
/// }
///
/// let vars = get_context_vars!(request, user);
/// assert_eq!(vars.len(), 2);
///
/// let _id = request::ID.set(1);
/// let _name = user::NAME.set(Some("ada".to_owned()));
/// assert_eq!(vars.reset(), 2);
/// assert_eq!((request::ID.get(), user::NAME.get()), (0, None));
/// ```
///
/// Paths, limits and panics are those of [`reset_module!`].
#[proc_macro]
pub fn get_context_vars(input: TokenStream) -> TokenStream {
    module_path::get_context_vars(input.into()).into()
}
