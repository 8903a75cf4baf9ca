//! `reset_module!` and `get_context_vars!`: every path form, what they reset, in which
//! context, and what happens with a module that declares nothing.

use contextvars::{Context, context_var, get_context_vars, registry, reset_all, reset_module};

#[context_var(default = 0)]
static ROOT_A: u32;

#[context_var(default = String::new())]
static ROOT_B: String;

mod empty {}

mod app {
    use contextvars::context_var;

    #[context_var(default = 1)]
    pub static APP: u32;

    pub mod db {
        use contextvars::{context_var, reset_module};

        #[context_var(default = 2)]
        pub static DB: u32;

        #[context_var(default = None)]
        pub static TRANSACTION: Option<u64>;

        pub mod pool {
            use contextvars::{context_var, reset_module};

            #[context_var(default = 3)]
            pub static POOL: u32;

            pub fn reset_super() -> usize {
                reset_module!(super)
            }

            pub fn reset_super_super() -> usize {
                reset_module!(super::super)
            }

            pub fn reset_super_super_db() -> usize {
                reset_module!(super::super::db)
            }

            pub fn reset_crate_root() -> usize {
                reset_module!(crate)
            }
        }

        pub fn reset_self() -> usize {
            reset_module!(self)
        }

        pub fn reset_child() -> usize {
            reset_module!(pool)
        }

        pub fn reset_self_child() -> usize {
            reset_module!(self::pool)
        }

        pub fn reset_super_child() -> usize {
            reset_module!(super::db)
        }
    }
}

/// Sets every variable of `app` and its submodules away from its default.
fn set_all() {
    app::APP.set(10);
    app::db::DB.set(20);
    app::db::TRANSACTION.set(Some(7));
    app::db::pool::POOL.set(30);
}

fn values() -> (u32, u32, Option<u64>, u32) {
    (
        app::APP.get(),
        app::db::DB.get(),
        app::db::TRANSACTION.get(),
        app::db::pool::POOL.get(),
    )
}

#[test]
fn bare_child_path_resets_that_module_only() {
    set_all();
    assert_eq!(reset_module!(app), 1);
    assert_eq!(values(), (1, 20, Some(7), 30));
    assert_eq!(reset_module!(app::db), 2);
    assert_eq!(values(), (1, 2, None, 30));
}

#[test]
fn self_and_child_paths() {
    set_all();
    assert_eq!(app::db::reset_self(), 2);
    assert_eq!(values(), (10, 2, None, 30));
    let _pool = app::db::pool::POOL.set(31);
    assert_eq!(app::db::reset_child(), 1);
    assert_eq!(app::db::pool::POOL.get(), 3);
    let _pool = app::db::pool::POOL.set(32);
    assert_eq!(app::db::reset_self_child(), 1);
    assert_eq!(app::db::pool::POOL.get(), 3);
}

#[test]
fn super_paths() {
    set_all();
    assert_eq!(app::db::pool::reset_super(), 2);
    assert_eq!(values(), (10, 2, None, 30));
    assert_eq!(app::db::pool::reset_super_super(), 1);
    assert_eq!(values(), (1, 2, None, 30));
    let _db = app::db::DB.set(21);
    assert_eq!(app::db::pool::reset_super_super_db(), 2);
    assert_eq!(app::db::DB.get(), 2);
    let _db = app::db::DB.set(22);
    assert_eq!(app::db::reset_super_child(), 2);
    assert_eq!(app::db::DB.get(), 2);
}

#[test]
fn crate_paths() {
    set_all();
    let _a = ROOT_A.set(5);
    let _b = ROOT_B.set("b".to_owned());
    assert_eq!(app::db::pool::reset_crate_root(), 2);
    assert_eq!((ROOT_A.get(), ROOT_B.get()), (0, String::new()));
    assert_eq!(values(), (10, 20, Some(7), 30));
    assert_eq!(reset_module!(crate::app::db::pool), 1);
    assert_eq!(values(), (10, 20, Some(7), 3));
}

#[test]
fn self_at_the_crate_root() {
    let _a = ROOT_A.set(5);
    assert_eq!(reset_module!(self), 2);
    assert_eq!(ROOT_A.get(), 0);
}

#[test]
fn dependency_crate_paths() {
    use declared_vars::request::{HEADERS, PATH, REQUEST_ID};

    let _id = REQUEST_ID.set(9);
    let _path = PATH.set("/users");
    let _headers = HEADERS.set(vec![("accept".to_owned(), "*/*".to_owned())]);
    assert_eq!(reset_module!(::declared_vars::request), 3);
    assert_eq!((REQUEST_ID.get(), PATH.get()), (0, "/"));
    assert!(HEADERS.get().is_empty());

    let _id = REQUEST_ID.set(10);
    assert_eq!(reset_module!(declared_vars::request), 3);
    assert_eq!(REQUEST_ID.get(), 0);
}

#[test]
fn get_context_vars_resets_and_returns_the_set() {
    set_all();
    let vars = get_context_vars!(app::db);
    assert_eq!(vars.len(), 2);
    assert_eq!(values(), (10, 2, None, 30));
    let mut names: Vec<_> = vars.iter().map(registry::Registration::name).collect();
    names.sort_unstable();
    assert_eq!(names, ["DB", "TRANSACTION"]);

    let _db = app::db::DB.set(40);
    assert_eq!(vars.reset(), 2);
    assert_eq!(app::db::DB.get(), 2);
}

#[test]
fn get_context_vars_merges_several_modules() {
    set_all();
    let vars = get_context_vars!(app, app::db, crate::app::db::pool, ::declared_vars::session);
    assert_eq!(vars.len(), 5);
    assert_eq!(values(), (1, 2, None, 3));
    assert_eq!(get_context_vars!(app::db, self::app::db).len(), 2);
}

#[test]
fn reset_is_per_context() {
    let _db = app::db::DB.set(50);
    let mut ctx = Context::new();
    let reset = ctx.run(|| {
        let _db = app::db::DB.set(60);
        reset_module!(app::db)
    });
    assert_eq!(reset, 2);
    assert_eq!(app::db::DB.get(), 50);
    assert_eq!(ctx.get(&app::db::DB), Some(2));
    assert!(ctx.contains(&app::db::TRANSACTION));
}

#[test]
fn reset_all_resets_every_registered_variable() {
    set_all();
    let _a = ROOT_A.set(5);
    let _id = declared_vars::request::REQUEST_ID.set(9);
    let reset = reset_all();
    assert!(reset >= 9, "reset {reset}");
    assert_eq!(values(), (1, 2, None, 3));
    assert_eq!(ROOT_A.get(), 0);
    assert_eq!(declared_vars::request::REQUEST_ID.get(), 0);
}

#[test]
fn reset_binds_the_default_in_the_current_context() {
    ROOT_B.set("set".to_owned());
    assert_eq!(reset_module!(crate), 2);
    assert!(ROOT_B.is_set());
    ROOT_B.with(|b| assert_eq!(b.map(String::as_str), Some("")));
}

#[test]
#[should_panic(expected = "no #[context_var] variable is declared in module `macros_reset::empty`")]
fn reset_module_of_a_module_without_variables_panics() {
    reset_module!(empty);
}

#[test]
#[should_panic(expected = "no #[context_var] variable is declared in module `macros_reset::empty`")]
fn get_context_vars_of_a_module_without_variables_panics() {
    let _ = get_context_vars!(crate::app::db::pool, crate::empty);
}
