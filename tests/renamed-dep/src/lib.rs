//! Depends on `contextvars` as `cv`: `::contextvars` does not resolve here, so these tests fail
//! to compile if any expansion names it.

/// Variables declared through the renamed crate.
pub mod request {
    /// The id of the request.
    #[cv::context_var(default = 0, crate = cv)]
    pub static ID: u64;

    /// The user, if known.
    #[cv::context_var(default = None, crate = cv)]
    pub static USER: Option<String>;
}

#[cfg(test)]
mod tests {
    use super::request::{ID, USER};

    #[test]
    fn module_macros_resolve_through_the_renamed_crate() {
        let listed = cv::module_vars!(crate::request);
        assert_eq!(listed.len(), 2);
        assert!(!ID.is_set(), "module_vars! binds nothing");

        let _id = ID.set(7);
        let _user = USER.set(Some("ada".to_owned()));
        assert_eq!(cv::reset_module!(crate::request), 2);
        assert_eq!((ID.get(), USER.get()), (0, None));

        let _id = ID.set(9);
        let vars = cv::get_context_vars!(crate::request);
        assert_eq!(vars.len(), 2);
        assert_eq!(ID.get(), 0, "get_context_vars! resets, as Python's does");
        assert_eq!(ID_DEFAULT(), 0);
    }

    use super::request::ID_DEFAULT;
}
