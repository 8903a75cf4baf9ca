//! `#[context_var]` declarations: the types and defaults it accepts, where it can be written,
//! and what it registers.

use std::any::type_name;
use std::collections::HashMap;

use contextvars::{context_var, registry};

/// Written as `&str`: the macro makes the default's return type `&'static str`.
#[context_var(default = "en")]
static LOCALE: &str;

#[context_var(default = Vec::<u32>::new())]
static IDS: Vec<u32>;

#[context_var(default = HashMap::<String, u32>::new())]
static COUNTS: HashMap<String, u32>;

#[context_var(default = (1..=3).map(|n| n * 10).collect::<Vec<u32>>())]
static COMPUTED: Vec<u32>;

#[context_var(default = format!("{}-{}", "guest", 1 + 1))]
static GREETING: String;

#[context_var(default = 8080, inherit = false)]
static PORT: u16;

mod reexport {
    pub use ::contextvars as cv;
}

#[context_var(crate = crate::reexport::cv, default = 'x')]
static THROUGH_REEXPORT: char;

mod outer {
    pub mod inner {
        use contextvars::context_var;

        #[context_var(default = 1)]
        pub(crate) static DEPTH: u8;
    }
}

fn registration(module_path: &str, name: &str) -> &'static registry::Registration {
    registry::all()
        .find(|reg| reg.module_path() == module_path && reg.name() == name)
        .unwrap_or_else(|| panic!("{module_path}::{name} is not registered"))
}

#[test]
fn elided_reference_lifetime_means_static() {
    assert_eq!(LOCALE.get(), "en");
    let _token = LOCALE.set("fr");
    assert_eq!(LOCALE.get(), "fr");
    let default: fn() -> &'static str = LOCALE_DEFAULT;
    assert_eq!(default(), "en");
}

#[test]
fn turbofish_defaults_of_collections() {
    assert!(IDS.get().is_empty());
    assert!(COUNTS.get().is_empty());
    let _token = COUNTS.set(HashMap::from([("a".to_owned(), 1)]));
    assert_eq!(COUNTS.get()["a"], 1);
}

#[test]
fn default_may_be_any_expression() {
    assert_eq!(COMPUTED.get(), [10, 20, 30]);
    assert_eq!(GREETING.get(), "guest-2");
    assert_eq!(COMPUTED_DEFAULT(), [10, 20, 30]);
}

#[test]
fn name_is_the_static_s_ident() {
    assert_eq!(LOCALE.name(), "LOCALE");
    assert_eq!(outer::inner::DEPTH.name(), "DEPTH");
}

#[test]
fn nested_module_registers_under_its_module_path() {
    let reg = registration("macros::outer::inner", "DEPTH");
    assert_eq!(reg.type_name(), type_name::<u8>());
    assert_eq!(outer::inner::DEPTH.get(), 1);
}

#[test]
fn registry_lists_name_module_and_type() {
    assert_eq!(
        registration("macros", "LOCALE").type_name(),
        type_name::<&str>()
    );
    assert_eq!(
        registration("macros", "COUNTS").type_name(),
        type_name::<HashMap<String, u32>>()
    );
    let ours: Vec<_> = registry::all()
        .filter(|reg| reg.module_path() == "macros")
        .map(registry::Registration::name)
        .collect();
    assert_eq!(ours.len(), 7, "{ours:?}");
}

#[test]
fn registry_lists_variables_of_a_dependency_crate() {
    let reg = registration("declared_vars::request", "REQUEST_ID");
    assert_eq!(reg.type_name(), type_name::<u64>());
    assert!(reg.inherits());
    assert_eq!(
        registration("declared_vars::request", "PATH").type_name(),
        type_name::<&str>()
    );
    assert!(!registration("declared_vars::session", "USER").inherits());
    assert_eq!(declared_vars::request::PATH.get(), "/");
}

#[test]
fn inherit_false_is_not_seen_by_child_threads() {
    assert!(!PORT.inherits());
    assert!(LOCALE.inherits());
    let _port = PORT.set(1);
    let _locale = LOCALE.set("de");
    let seen = contextvars::thread::spawn(|| (PORT.get(), LOCALE.get()))
        .join()
        .unwrap();
    assert_eq!(seen, (8080, "de"));
}

#[test]
fn crate_argument_routes_through_a_reexport() {
    assert_eq!(THROUGH_REEXPORT.get(), 'x');
    assert_eq!(
        registration("macros", "THROUGH_REEXPORT").type_name(),
        type_name::<char>()
    );
}

mod in_function_body {
    use contextvars::{context_var, reset_module};

    #[test]
    fn static_in_a_function_registers_under_the_enclosing_module() {
        #[context_var(default = 5)]
        static LOCAL: u32;

        let reg = super::registration("macros::in_function_body", "LOCAL");
        assert_eq!(reg.type_name(), std::any::type_name::<u32>());
        let _token = LOCAL.set(6);
        assert_eq!(reset_module!(self), 1);
        assert_eq!(LOCAL.get(), 5);
    }
}

mod visibility {
    use contextvars::context_var;

    /// Doc comments are kept (checked by `deny(missing_docs)` in the declared-vars crate).
    #[context_var(default = true)]
    pub(crate) static VISIBLE_IN_CRATE: bool;
}

#[test]
fn pub_crate_static_and_default_fn_are_reachable_in_the_crate() {
    assert!(visibility::VISIBLE_IN_CRATE.get());
    assert!(visibility::VISIBLE_IN_CRATE_DEFAULT());
}
