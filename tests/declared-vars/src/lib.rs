//! Variables declared in a separate crate, for the registry tests: they must be listed and
//! reset from the crate that depends on this one. `deny(missing_docs)` checks that the
//! generated items are documented.

#![deny(missing_docs)]

/// The variables of a request.
pub mod request {
    use contextvars::context_var;

    /// The id of the request.
    #[context_var(default = 0)]
    pub static REQUEST_ID: u64;

    /// The request's path.
    #[context_var(default = "/")]
    pub static PATH: &str;

    /// The request's headers.
    #[context_var(default = Vec::<(String, String)>::new())]
    pub static HEADERS: Vec<(String, String)>;
}

/// The variables of a session, which background work must not inherit.
pub mod session {
    use contextvars::context_var;

    /// The signed-in user, if any.
    #[context_var(default = None, inherit = false)]
    pub static USER: Option<String>;
}
