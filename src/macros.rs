//! `reset_module!`, `get_context_vars!` and `module_vars!`: thin wrappers that hand their
//! `$crate` to the procedural macros, so they work under a renamed dependency
//! (`cv = { package = "contextvars", .. }`).

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
///   [`reset_all`](crate::reset_all) resets every registered variable;
/// - `$crate` is not supported in the path.
///
/// # Panics
///
/// When the module has no registered variable, with a message naming the resolved path and the
/// caller's file and line: it is a mistake (a typo, an alias, a module whose variables moved),
/// never a silent no-op.
#[macro_export]
macro_rules! reset_module {
    ($($path:tt)+) => {
        $crate::__private::reset_module_in!($crate; $($path)+)
    };
}

/// The variables declared with `#[context_var]` directly in one or more modules, as a
/// [`VarSet`](crate::VarSet), after resetting them to fresh defaults in the current context
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
/// Set-up code that only needs the list (a server layer, a log format) should use
/// [`module_vars!`](crate::module_vars!), which binds nothing: after `get_context_vars!` every variable of the
/// modules is set in the caller's context.
///
/// Paths, limits and panics are those of [`reset_module!`](crate::reset_module!).
#[macro_export]
macro_rules! get_context_vars {
    ($($paths:tt)+) => {
        $crate::__private::get_context_vars_in!($crate; $($paths)+)
    };
}

/// The variables declared with `#[context_var]` directly in one or more modules, as a
/// [`VarSet`](crate::VarSet), without touching any context: what set-up code hands to a layer or
/// a log format.
///
/// ```
/// use contextvars::{context_var, module_vars};
///
/// mod request {
///     use contextvars::context_var;
///
///     #[context_var(default = 0)]
///     pub static ID: u64;
/// }
///
/// let vars = module_vars!(request);
/// assert_eq!(vars.len(), 1);
/// assert!(!request::ID.is_set()); // listed, not reset
/// ```
///
/// Paths, limits and panics are those of [`reset_module!`](crate::reset_module!).
#[macro_export]
macro_rules! module_vars {
    ($($paths:tt)+) => {
        $crate::__private::module_vars_in!($crate; $($paths)+)
    };
}
