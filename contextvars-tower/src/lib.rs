//! A [tower](https://docs.rs/tower) layer that runs every request in a context of its own.
//!
//! A server polls thousands of request futures on a few worker threads. Unwrapped, a handler
//! that sets a variable writes into its worker thread's context, where the next request polled
//! on that thread finds it: the leak uvicorn fixed with `--reset-contextvars`. [`ContextLayer`]
//! gives every request a fresh copy of the server's base context, made when the request
//! arrives, and runs the whole request future in it ([`WithContext`]): whatever a request sets
//! stays in that request, across every `.await`, on whichever thread it resumes, and
//! tasks it starts through `contextvars::spawn` inherit it.
//!
//! At the start of each request the layer can also reset declared variables to fresh defaults
//! ([`ContextLayer::reset`], with a [`VarSet`] from `get_context_vars!`) and set variables from
//! request headers ([`ContextLayer::header_var`]).
//!
//! ```
//! use std::convert::Infallible;
//!
//! use contextvars::ContextVar;
//! use contextvars_tower::ContextLayer;
//! use http::{HeaderValue, Request, Response};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//!
//! fn request_id(header: Option<&HeaderValue>) -> String {
//!     header
//!         .and_then(|value| value.to_str().ok())
//!         .map_or_else(|| "generated-1".to_owned(), str::to_owned)
//! }
//!
//! async fn handler(_request: Request<()>) -> Result<Response<String>, Infallible> {
//!     let id = REQUEST_ID.get(); // no parameter: read from the request's context
//!     Ok(Response::new(format!("request {id}")))
//! }
//!
//! let service = ServiceBuilder::new()
//!     .layer(ContextLayer::new().header_var(&REQUEST_ID, "x-request-id", request_id))
//!     .service(service_fn(handler));
//!
//! let request = Request::builder().header("x-request-id", "abc").body(()).unwrap();
//! let response = futures::executor::block_on(service.clone().oneshot(request)).unwrap();
//! assert_eq!(response.body(), "request abc");
//!
//! let response = futures::executor::block_on(service.oneshot(Request::new(()))).unwrap();
//! assert_eq!(response.body(), "request generated-1");
//! assert!(!REQUEST_ID.is_set()); // nothing flowed back to the caller
//! ```
//!
//! With axum, add it to the router: `Router::new().route("/", get(handler)).layer(layer)`;
//! with hyper, wrap the service given to the connection with [`Layer::layer`].

use std::fmt;
use std::sync::Arc;
use std::task::{self, Poll};

use http::{HeaderName, HeaderValue, Request};
use tower_layer::Layer;
use tower_service::Service;

use contextvars::{Context, ContextVar, FutureExt, VarSet, WithContext};

/// A [`Layer`] whose service runs each request's future in its own copy of a base context.
///
/// Build it with [`new`](Self::new), [`with_base`](Self::with_base) or
/// [`inherit_at_request`](Self::inherit_at_request), then add what happens at the start of
/// each request with [`reset`](Self::reset) and [`header_var`](Self::header_var). Cloning is
/// cheap; the configuration is shared.
///
/// See the [module documentation](self) for an example.
#[derive(Clone)]
pub struct ContextLayer {
    config: Arc<Config>,
}

#[derive(Clone)]
struct Config {
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
    fn request_context(&self) -> Context {
        match &self.base {
            Base::Fixed(base) => base.clone(),
            Base::AtRequest => Context::inherited(),
        }
    }

    /// Runs inside the request's context.
    fn start_request(&self, headers: &http::HeaderMap) {
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
        ContextService {
            inner,
            config: Arc::clone(&self.config),
        }
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

/// The service made by [`ContextLayer`]: calls the inner service and polls its future inside
/// the request's own context.
#[derive(Clone)]
pub struct ContextService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> ContextService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for ContextService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = WithContext<S::Future>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> WithContext<S::Future> {
        let mut context = self.config.request_context();
        let inner = &mut self.inner;
        let config = &self.config;
        // The inner `call` runs in the request's context too: services that do work before
        // returning their future see the request's values.
        let future = context.run(|| {
            config.start_request(request.headers());
            inner.call(request)
        });
        future.with_context(context)
    }
}

impl<S: fmt::Debug> fmt::Debug for ContextService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextService")
            .field("inner", &self.inner)
            .field("layer", &self.config)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures::executor::block_on;
    use tower::{ServiceExt, service_fn};

    use super::*;

    static SEEN: ContextVar<u32> = ContextVar::with_default("seen", || 0);
    static CONFIG: ContextVar<&str> = ContextVar::new("config");

    async fn set_and_read(_request: Request<()>) -> Result<u32, Infallible> {
        let before = SEEN.get();
        SEEN.set(before + 1);
        Ok(before)
    }

    #[test]
    fn requests_never_see_each_other_s_values() {
        let service = ContextLayer::new().layer(service_fn(set_and_read));
        for _ in 0..3 {
            let seen = block_on(service.clone().oneshot(Request::new(()))).unwrap();
            assert_eq!(seen, 0);
        }
        assert!(!SEEN.is_set());
    }

    #[test]
    fn base_is_taken_at_construction_unless_inherited_at_request() {
        let read = |_: Request<()>| async { Ok::<_, Infallible>(CONFIG.try_get().ok()) };
        let token = CONFIG.set("at construction");
        let fixed = ContextLayer::new().layer(service_fn(read));
        let at_request = ContextLayer::inherit_at_request().layer(service_fn(read));
        CONFIG.reset(token).unwrap();
        let _later = CONFIG.set("later");
        let seen = block_on(fixed.oneshot(Request::new(()))).unwrap();
        assert_eq!(seen, Some("at construction"));
        let seen = block_on(at_request.oneshot(Request::new(()))).unwrap();
        assert_eq!(seen, Some("later"));
    }

    #[test]
    fn header_var_gets_the_header_or_none() {
        static ID: ContextVar<String> = ContextVar::new("id");
        let layer = ContextLayer::with_base(Context::new()).header_var(&ID, "X-Request-Id", |v| {
            v.map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned())
        });
        let service = layer.layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(ID.get())
        }));
        let with = Request::builder()
            .header("x-request-id", "r-1")
            .body(())
            .unwrap();
        assert_eq!(block_on(service.clone().oneshot(with)).unwrap(), "r-1");
        assert_eq!(block_on(service.oneshot(Request::new(()))).unwrap(), "none");
        assert!(format!("{layer:?}").contains("x-request-id"));
    }
}
