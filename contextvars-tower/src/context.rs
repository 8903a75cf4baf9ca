//! Every request in a context of its own: [`ContextLayer`], its service [`Context`], the
//! [`ResponseFuture`] and the [`ContextBody`] they poll in the request's context.

use std::fmt;
use std::sync::Arc;
use std::task::{self, Poll};

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use contextvars::baggage::Accept;
use contextvars::registry::Registration;
use contextvars::{ContextVar, VarSet};

mod body;

pub use body::{ContextBody, ResponseFuture};

/// A [`Layer`] whose service runs each request's future, and then its response body, in its
/// own copy of a base context.
///
/// Build it with [`new`](Self::new), [`with_base`](Self::with_base) or
/// [`inherit_at_request`](Self::inherit_at_request), then add what happens at the start of
/// each request with [`reset`](Self::reset), [`header_var`](Self::header_var),
/// [`accept_baggage`](Self::accept_baggage) and (feature `opentelemetry`)
/// `propagator`. Cloning is cheap; the configuration is shared.
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
    /// `reset` without the variables of `headers`, each reset only when its header gives no
    /// value: a default made to be replaced at once cost two map writes and its allocation per
    /// request.
    reset_unset: VarSet,
    headers: Vec<HeaderVar>,
    baggage: Accept,
    #[cfg(feature = "opentelemetry")]
    propagator: Option<crate::otel::SharedPropagator>,
}

#[derive(Clone)]
enum Base {
    /// Every request starts from a copy of this context.
    Fixed(contextvars::Context),
    /// Every request starts from `Context::inherited()` taken when it arrives.
    AtRequest,
}

/// Sets one variable from one header.
#[derive(Clone)]
struct HeaderVar {
    header: HeaderName,
    var_name: &'static str,
    set: Arc<SetVar>,
    /// Whether a registration is this variable's.
    is_var: Arc<IsVar>,
    /// The variable's registration when it is among the variables reset.
    reset: Option<&'static Registration>,
}

/// Sets the variable from the header; returns whether it did.
type SetVar = dyn Fn(Option<&HeaderValue>) -> bool + Send + Sync;

type IsVar = dyn Fn(&Registration) -> bool + Send + Sync;

impl ContextLayer {
    /// Every request starts from a copy of the caller's context as it is now, at construction
    /// (minus the variables declared `inherit = false`): what the server set up before it
    /// started serving, and nothing any worker thread or other request did since. `new` means
    /// the same on `contextvars::tokio::ContextExecutor`.
    #[must_use]
    pub fn new() -> ContextLayer {
        ContextLayer::with_base(contextvars::Context::inherited())
    }

    /// Every request starts from a copy of `base`. `Context::new()` gives each request an empty
    /// context.
    #[must_use]
    pub fn with_base(base: contextvars::Context) -> ContextLayer {
        ContextLayer::from_base(Base::Fixed(base))
    }

    /// Every request starts from [`Context::inherited`](contextvars::Context::inherited) taken
    /// when the request arrives, in whatever context calls the service: for a service that is
    /// itself called inside a context, such as a service nested in a request. Servers usually
    /// want [`new`](Self::new): the task that calls a server's service belongs to no request.
    #[must_use]
    pub fn inherit_at_request() -> ContextLayer {
        ContextLayer::from_base(Base::AtRequest)
    }

    fn from_base(base: Base) -> ContextLayer {
        ContextLayer {
            config: Arc::new(Config {
                base,
                reset: VarSet::default(),
                reset_unset: VarSet::default(),
                headers: Vec::new(),
                baggage: Accept::none(),
                #[cfg(feature = "opentelemetry")]
                propagator: None,
            }),
        }
    }

    /// At the start of each request, resets every variable of `vars` to a fresh default in the
    /// request's context (what Python code does with `reset_context_vars` at the top of a
    /// handler), for instance `module_vars!(crate::request)`. Adds to the variables of earlier
    /// calls.
    #[must_use]
    pub fn reset(mut self, vars: &VarSet) -> ContextLayer {
        let config = Arc::make_mut(&mut self.config);
        config.reset.extend(vars);
        config.split_resets();
        self
    }

    /// At the start of each request (after the resets, before [`header_var`](Self::header_var)),
    /// sets the propagated variables that `accept` believes from the request's W3C `baggage`
    /// header.
    ///
    /// **Whoever sends the request writes its baggage.** A client that sends `tenant=acme`
    /// must not become acme: a layer that faces the public internet accepts nothing, which is
    /// the default; give an [`Accept`] only to a service that its own gateways reach, naming
    /// what they may set. Members that are malformed, not UTF-8, of a key not accepted, not a
    /// valid value of the variable's type, or beyond 64 members or 8,192 bytes are skipped with
    /// a `tracing` debug line, and the variable keeps its value.
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// use contextvars::baggage::Accept;
    /// use contextvars::context_var;
    /// use contextvars_tower::ContextLayer;
    /// use http::{Request, Response};
    /// use tower::{service_fn, ServiceExt};
    /// use tower_layer::Layer;
    ///
    /// #[context_var(default = String::from("none"), propagate = "team")]
    /// static TEAM: String;
    ///
    /// let handler = service_fn(|_: Request<()>| async {
    ///     Ok::<_, Infallible>(Response::new(TEAM.get()))
    /// });
    /// let request = || Request::builder().header("baggage", "team=acme").body(()).unwrap();
    ///
    /// // A public edge: the client's baggage is ignored.
    /// let edge = ContextLayer::new().layer(handler.clone());
    /// let response = futures::executor::block_on(edge.oneshot(request())).unwrap();
    /// assert_eq!(response.body().get_ref(), "none");
    ///
    /// // An internal backend that trusts its gateway's team.
    /// let backend = ContextLayer::new()
    ///     .accept_baggage(Accept::none().var(&TEAM))
    ///     .layer(handler);
    /// let response = futures::executor::block_on(backend.oneshot(request())).unwrap();
    /// assert_eq!(response.body().get_ref(), "acme");
    /// ```
    #[must_use]
    pub fn accept_baggage(mut self, accept: Accept) -> ContextLayer {
        Arc::make_mut(&mut self.config).baggage = accept;
        self
    }

    /// At the start of each request (after the resets), sets `var` to what `make` returns for
    /// the request's `header` (the first one, if repeated; `None` when the request has none):
    /// the place to generate a request id.
    ///
    /// `make` returns a `T`, or an `Option<T>` where `None` leaves the variable as it is (its
    /// default, after a [`reset`](Self::reset)). It runs inside the request's context, before
    /// the inner service is called; it should read the header only (the variables it sets may
    /// not be reset yet). Header names are case-insensitive; write constants with
    /// `HeaderName::from_static("x-request-id")`.
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// use contextvars::ContextVar;
    /// use contextvars_tower::ContextLayer;
    /// use http::{HeaderName, Request, Response};
    /// use tower::{service_fn, ServiceExt};
    /// use tower_layer::Layer;
    ///
    /// static TENANT: ContextVar<String> = ContextVar::with_default("tenant", || "none".into());
    ///
    /// let layer = ContextLayer::new().header_var(&TENANT, HeaderName::from_static("x-tenant"), |v| {
    ///     v.and_then(|v| v.to_str().ok()).map(str::to_owned) // no header: the default
    /// });
    /// let service = layer.layer(service_fn(|_: Request<()>| async {
    ///     Ok::<_, Infallible>(Response::new((TENANT.is_set(), TENANT.get())))
    /// }));
    /// let response = futures::executor::block_on(service.oneshot(Request::new(()))).unwrap();
    /// assert_eq!(response.body().get_ref(), &(false, "none".to_owned()));
    /// ```
    #[must_use]
    pub fn header_var<T, R, F>(
        mut self,
        var: &'static ContextVar<T>,
        header: HeaderName,
        make: F,
    ) -> ContextLayer
    where
        T: Send + Sync + 'static,
        R: Into<Option<T>>,
        F: Fn(Option<&HeaderValue>) -> R + Send + Sync + 'static,
    {
        let set = move |value: Option<&HeaderValue>| match make(value).into() {
            Some(value) => {
                drop(var.set(value));
                true
            }
            None => false,
        };
        let config = Arc::make_mut(&mut self.config);
        config.headers.push(HeaderVar {
            header,
            var_name: var.name(),
            set: Arc::new(set),
            is_var: Arc::new(move |registration: &Registration| registration.is(var)),
            reset: None,
        });
        config.split_resets();
        self
    }
}

impl Default for ContextLayer {
    fn default() -> ContextLayer {
        ContextLayer::new()
    }
}

impl Config {
    fn request_context(&self) -> contextvars::Context {
        match &self.base {
            Base::Fixed(base) => base.clone(),
            Base::AtRequest => contextvars::Context::inherited(),
        }
    }

    /// Which of the variables reset have a header variable, and which do not.
    fn split_resets(&mut self) {
        let mut unset = Vec::new();
        for registration in self.reset.iter() {
            let header_var = self
                .headers
                .iter_mut()
                .find(|header_var| (header_var.is_var)(registration));
            match header_var {
                Some(header_var) => header_var.reset = Some(registration),
                None => unset.push(registration),
            }
        }
        self.reset_unset = VarSet::new(unset);
    }

    /// Whether incoming baggage may set variables in this request, between the resets and the
    /// headers: never without a `baggage` header, unless a propagator reads the headers.
    fn reads_baggage(&self, headers: &HeaderMap) -> bool {
        #[cfg(feature = "opentelemetry")]
        if self.propagator.is_some() {
            return true;
        }
        !self.baggage.is_none() && headers.contains_key(crate::baggage::HEADER)
    }

    /// Runs inside the request's context: the resets, then the baggage, then the headers.
    fn start_request<B>(&self, request: &mut Request<B>) {
        if self.reads_baggage(request.headers()) {
            if !self.reset.is_empty() {
                self.reset.reset();
            }
            #[cfg(feature = "opentelemetry")]
            if self.propagator.is_some() {
                crate::otel::apply_baggage(request.extensions());
            }
            if !self.baggage.is_none() {
                crate::baggage::apply(request.headers(), &self.baggage);
            }
            for header_var in &self.headers {
                (header_var.set)(request.headers().get(&header_var.header));
            }
        } else {
            // The same end state with no baggage in between (none accepted, or none sent): a
            // variable with a header is reset only when the header gives it no value.
            if !self.reset_unset.is_empty() {
                self.reset_unset.reset();
            }
            self.set_header_vars(request.headers());
        }
    }

    fn set_header_vars(&self, headers: &HeaderMap) {
        for header_var in &self.headers {
            if !(header_var.set)(headers.get(&header_var.header)) {
                if let Some(registration) = header_var.reset {
                    registration.reset();
                }
            }
        }
    }

    #[cfg(feature = "opentelemetry")]
    pub(crate) fn set_propagator(&mut self, propagator: crate::otel::SharedPropagator) {
        self.propagator = Some(propagator);
    }
}

#[cfg(feature = "opentelemetry")]
impl ContextLayer {
    /// At the start of each request, extracts an OpenTelemetry context from the request's
    /// headers with `propagator` (feature `opentelemetry`): the remote span context of
    /// `traceparent` / `tracestate` becomes the parent of the
    /// [`RequestSpan`](crate::request_span::RequestSpan) (and is in the request's extensions
    /// as a [`RemoteContext`](crate::otel::RemoteContext)), and the propagated variables that a
    /// `contextvars_opentelemetry::BaggagePropagator` in it extracted are set (after the resets,
    /// before [`header_var`](Self::header_var)). One propagator carries both: the trust is the
    /// `BaggagePropagator`'s
    /// [`accept_baggage`](contextvars_opentelemetry::BaggagePropagator::accept_baggage).
    ///
    /// With `contextvars_opentelemetry::carry_context()` set up, the extracted context is also
    /// OpenTelemetry's current context wherever the request's context is current (until a span
    /// of the request is entered), so a span of your own made in the request, such as
    /// tower-http's `TraceLayer`'s inside this layer, is the caller's span's child too.
    ///
    /// A client's `traceparent` is an identifier, not a claim: an edge may continue it. Its
    /// baggage is a claim: accept none at a public edge. See the
    /// [crate documentation](crate#two-set-ups) for the whole set-up.
    #[must_use]
    #[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
    pub fn propagator<P>(mut self, propagator: P) -> ContextLayer
    where
        P: opentelemetry::propagation::TextMapPropagator + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.config).set_propagator(Arc::new(propagator));
        self
    }
}

impl<S> Layer<S> for ContextLayer {
    type Service = Context<S>;

    fn layer(&self, inner: S) -> Context<S> {
        Context {
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
        let mut debug = f.debug_struct("ContextLayer");
        debug
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
            .field("baggage", &self.baggage);
        #[cfg(feature = "opentelemetry")]
        debug.field("propagator", &self.propagator.is_some());
        // `reset_unset` is derived from `reset` and `headers`.
        debug.finish_non_exhaustive()
    }
}

/// The service made by [`ContextLayer`]: calls the inner service and polls its future, then
/// the response body, inside the request's own context.
#[derive(Clone)]
pub struct Context<S> {
    inner: S,
    config: Arc<Config>,
}

crate::accessors!(Context);

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Context<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ContextBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> ResponseFuture<S::Future> {
        let mut context = self.config.request_context();
        #[cfg(feature = "opentelemetry")]
        if let Some(propagator) = &self.config.propagator {
            crate::otel::extract(propagator, &mut request, &mut context);
        }
        let inner = &mut self.inner;
        let config = &self.config;
        // The inner `call` runs in the request's context too: services that do work before
        // returning their future see the request's values.
        let future = context.run(|| {
            config.start_request(&mut request);
            inner.call(request)
        });
        ResponseFuture::new(future, context)
    }
}

impl<S: fmt::Debug> fmt::Debug for Context<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("inner", &self.inner)
            .field("layer", &self.config)
            .finish()
    }
}
