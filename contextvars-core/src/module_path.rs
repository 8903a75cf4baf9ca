//! Resolving the module path written in `reset_module!` and its siblings against the
//! registry's `module_path!()` texts.

use crate::registry::{VarSet, all};

/// How a module path written in `reset_module!` starts.
///
/// Not public API, used by generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathStart {
    /// `crate::…` or `crate`.
    Crate,
    /// `self::…` or `self`.
    SelfModule,
    /// `super::…` repeated this many times.
    Super(usize),
    /// `::dep::…`.
    Global,
    /// `name::…`: a child module or import of the calling module first, then a crate.
    Bare,
}

/// The module paths that `start` and `segments`, written in module `here`, may name, in the
/// order they are tried.
fn candidates(here: &str, start: PathStart, segments: &[&str]) -> Vec<String> {
    let join = |base: &str| {
        let mut path = base.to_owned();
        for segment in segments {
            if !path.is_empty() {
                path.push_str("::");
            }
            path.push_str(segment);
        }
        path
    };
    match start {
        PathStart::Crate => vec![join(here.split("::").next().unwrap_or(here))],
        PathStart::SelfModule => vec![join(here)],
        PathStart::Super(levels) => {
            let parts: Vec<&str> = here.split("::").collect();
            let keep = parts.len().saturating_sub(levels).max(1);
            vec![join(&parts[..keep].join("::"))]
        }
        PathStart::Global => vec![join("")],
        PathStart::Bare => vec![join(here), join("")],
    }
}

/// The variables declared directly in the module that `start` and `segments` name, written in
/// module `here`.
///
/// Not public API, used by generated code.
///
/// # Panics
/// When no registered variable is declared in that module: resetting nothing is always a
/// mistake (a typo, an alias, a re-export, a renamed crate), so it is reported, not ignored.
#[doc(hidden)]
#[must_use]
#[track_caller]
pub fn module_vars(here: &str, start: PathStart, segments: &[&str]) -> VarSet {
    let candidates = candidates(here, start, segments);
    for candidate in &candidates {
        let vars: Vec<_> = all().filter(|reg| reg.module_path() == candidate).collect();
        if !vars.is_empty() {
            return VarSet::new(vars);
        }
    }
    panic!(
        "no #[context_var] variable is declared in module `{}` (written in `{here}`); \
         only variables declared directly in the named module count, and aliases, re-exports \
         and renamed crates are not followed",
        candidates.join("` or `")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_resolve_like_rust_paths() {
        let here = "app::handlers::users";
        let c = |start, segments: &[&str]| candidates(here, start, segments);
        assert_eq!(c(PathStart::Crate, &["db"]), ["app::db"]);
        assert_eq!(c(PathStart::Crate, &[]), ["app"]);
        assert_eq!(c(PathStart::SelfModule, &[]), ["app::handlers::users"]);
        assert_eq!(
            c(PathStart::SelfModule, &["m"]),
            ["app::handlers::users::m"]
        );
        assert_eq!(c(PathStart::Super(1), &[]), ["app::handlers"]);
        assert_eq!(c(PathStart::Super(2), &["db"]), ["app::db"]);
        assert_eq!(c(PathStart::Global, &["dep", "m"]), ["dep::m"]);
        assert_eq!(
            c(PathStart::Bare, &["dep", "m"]),
            ["app::handlers::users::dep::m", "dep::m"]
        );
    }
}
