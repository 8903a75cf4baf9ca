//! The layer and its configuration: the base context, resets, variables set from headers.

use std::fmt;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use tower_layer::Layer;

use contextvars::{Context, ContextVar, VarSet};

use crate::ContextService;

/// A [`Layer`] whose service runs each request's future in its own copy of a base context.
///
/// Build it with [`new`](Self::new), [`with_base`](Self::with_base) or
/// [`inherit_at_request`](Self::inherit_at_request), then add what happens at the start of
/// each request with [`reset`](Self::reset) and [`header_var`](Self::header_var). Cloning is
/// cheap; the configuration is shared.
///
/// See the [crate documentation](crate) for an example.
#[derive(Clone)]
pub struct ContextLayer {
    config: Arc<Config>,
}

#[derive(Clone)]
pub(crate) struct Config {
    base: Base,
    reset: VarSet,
    headers: Vec<HeaderVar>,
}

#[derive(Clone)]
enum Base {
    /// Every request starts from a copy of this context.
    Fixed(Context),
    /// Every request starts from `Context::inherited()` taken when it arrives.
    AtRequest,
}

/// Sets one variable from one header.
#[derive(Clone)]
struct HeaderVar {
    header: HeaderName,
    var_name: &'static str,
    set: Arc<SetVar>,
}

type SetVar = dyn Fn(Option<&HeaderValue>) + Send + Sync;

impl ContextLayer {
    /// Every request starts from a copy of the caller's context as it is now, at construction
    /// (minus the variables declared `inherit = false`): what the server set up before it
    /// started serving, and nothing any worker thread or other request did since.
    #[must_use]
    pub fn new() -> ContextLayer {
        ContextLayer::with_base(Context::inherited())
    }

    /// Every request starts from a copy of `base`. `Context::new()` gives each request an empty
    /// context.
    #[must_use]
    pub fn with_base(base: Context) -> ContextLayer {
        ContextLayer::from_config(Config {
            base: Base::Fixed(base),
            reset: VarSet::default(),
            headers: Vec::new(),
        })
    }

    /// Every request starts from [`Context::inherited`] taken when the request arrives, in
    /// whatever context calls the service: for a service that is itself called inside a
    /// context, such as a client middleware or a service nested in a request. Servers usually
    /// want [`new`](Self::new): the task that calls a server's service belongs to no request.
    #[must_use]
    pub fn inherit_at_request() -> ContextLayer {
        ContextLayer::from_config(Config {
            base: Base::AtRequest,
            reset: VarSet::default(),
            headers: Vec::new(),
        })
    }

    fn from_config(config: Config) -> ContextLayer {
        ContextLayer {
            config: Arc::new(config),
        }
    }

    /// At the start of each request, resets every variable of `vars` to a fresh default in the
    /// request's context (seed 000's `reset_context_vars` at the top of a handler), for
    /// instance `get_context_vars!(crate::request)`. Adds to the variables of earlier calls.
    #[must_use]
    pub fn reset(mut self, vars: &VarSet) -> ContextLayer {
        Arc::make_mut(&mut self.config).reset.extend(vars);
        self
    }

    /// At the start of each request (after the resets), sets `var` to `make(value)`, where
    /// `value` is the request's `header` (the first one, if repeated), or `None` when the
    /// request has none: the place to generate a request id.
    ///
    /// `make` runs inside the request's context, before the inner service is called.
    ///
    /// # Panics
    /// When `header` is not a valid header name. Names are case-insensitive.
    #[must_use]
    pub fn header_var<T, F>(
        mut self,
        var: &'static ContextVar<T>,
        header: impl AsRef<str>,
        make: F,
    ) -> ContextLayer
    where
        T: Send + Sync + 'static,
        F: Fn(Option<&HeaderValue>) -> T + Send + Sync + 'static,
    {
        let header = header.as_ref();
        let header = HeaderName::try_from(header)
            .unwrap_or_else(|err| panic!("`{header}` is not a valid header name: {err}"));
        let set = move |value: Option<&HeaderValue>| drop(var.set(make(value)));
        Arc::make_mut(&mut self.config).headers.push(HeaderVar {
            header,
            var_name: var.name(),
            set: Arc::new(set),
        });
        self
    }
}

impl Default for ContextLayer {
    fn default() -> ContextLayer {
        ContextLayer::new()
    }
}

impl Config {
    pub(crate) fn request_context(&self) -> Context {
        match &self.base {
            Base::Fixed(base) => base.clone(),
            Base::AtRequest => Context::inherited(),
        }
    }

    /// Runs inside the request's context.
    pub(crate) fn start_request(&self, headers: &http::HeaderMap) {
        if !self.reset.is_empty() {
            self.reset.reset();
        }
        for header_var in &self.headers {
            (header_var.set)(headers.get(&header_var.header));
        }
    }
}

impl<S> Layer<S> for ContextLayer {
    type Service = ContextService<S>;

    fn layer(&self, inner: S) -> ContextService<S> {
        ContextService::new(inner, Arc::clone(&self.config))
    }
}

impl fmt::Debug for ContextLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base: &dyn fmt::Debug = match &self.base {
            Base::Fixed(base) => base,
            Base::AtRequest => &"inherited at each request",
        };
        f.debug_struct("ContextLayer")
            .field("base", base)
            .field("reset", &self.reset)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|h| (h.header.as_str(), h.var_name))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}
