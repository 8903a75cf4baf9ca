//! The request span as a subscriber sees it: its name, target, level and HTTP fields, current
//! while the handler runs and while the body streams, closed when the body ends.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Debug;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use contextvars::{Context, ContextVar};
use contextvars_tower::{ContextLayer, RequestSpanLayer};
use futures::executor::block_on;
use http::{Extensions, HeaderName, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tower::{Layer as _, ServiceBuilder, ServiceExt, service_fn};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");

/// A span as recorded: its metadata, its fields, whether it closed.
#[derive(Clone, Debug, Default)]
struct Seen {
    name: String,
    target: String,
    level: String,
    fields: BTreeMap<String, String>,
    closed: bool,
}

/// An event's message, and the name of the span it was logged in.
type Logged = (String, Option<String>);

#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<BTreeMap<u64, Seen>>>,
    /// Each event's message with the name of the span it was in.
    events: Arc<Mutex<Vec<Logged>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: LayerContext<'_, S>) {
        let mut seen = Seen {
            name: attrs.metadata().name().to_owned(),
            target: attrs.metadata().target().to_owned(),
            level: attrs.metadata().level().to_string(),
            ..Seen::default()
        };
        attrs.record(&mut Fields(&mut seen.fields));
        self.spans.lock().unwrap().insert(id.into_u64(), seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: LayerContext<'_, S>) {
        if let Some(seen) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let span = ctx.event_span(event).map(|span| span.name().to_owned());
        self.events
            .lock()
            .unwrap()
            .push((fields.remove("message").unwrap_or_default(), span));
    }

    fn on_close(&self, id: Id, _ctx: LayerContext<'_, S>) {
        if let Some(seen) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            seen.closed = true;
        }
    }
}

impl Recorder {
    fn only_span(&self) -> Seen {
        let spans = self.spans.lock().unwrap();
        assert_eq!(spans.len(), 1, "{spans:?}");
        spans.values().next().unwrap().clone()
    }
}

/// A body of three frames, each logging an event when produced.
struct Logging(u32);

impl Body for Logging {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.0 == 0 {
            return Poll::Ready(None);
        }
        self.0 -= 1;
        tracing::info!("chunk");
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
    }
}

fn route(extensions: &Extensions) -> Option<&str> {
    extensions.get::<&'static str>().copied()
}

#[test]
fn the_span_follows_opentelemetry_s_http_conventions_with_the_name_target_and_level_given() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    tracing::subscriber::with_default(subscriber, || {
        let service = ServiceBuilder::new()
            .layer(
                RequestSpanLayer::new()
                    .name("http")
                    .target("my_app::http")
                    .level(Level::DEBUG)
                    .route(route),
            )
            .service(service_fn(|_: Request<()>| async {
                tracing::info!("handled");
                Ok::<_, Infallible>(Response::new(String::new()))
            }));
        let mut request = Request::builder()
            .method("POST")
            .uri("/users/7?x=1")
            .body(())
            .unwrap();
        request.extensions_mut().insert("/users/{id}");
        let response = block_on(service.oneshot(request)).unwrap();
        drop(response);
    });
    let span = recorder.only_span();
    assert_eq!(
        (
            span.name.as_str(),
            span.target.as_str(),
            span.level.as_str()
        ),
        ("http", "my_app::http", "DEBUG")
    );
    let field = |name: &str| span.fields.get(name).map(String::as_str);
    assert_eq!(field("otel.name"), Some("POST /users/{id}"));
    assert_eq!(field("otel.kind"), Some("server"));
    assert_eq!(field("http.request.method"), Some("POST"));
    assert_eq!(field("url.path"), Some("/users/7"));
    assert_eq!(field("http.route"), Some("/users/{id}"));
    assert_eq!(field("http.response.status_code"), Some("200"));
    assert_eq!(field("otel.status_code"), None);
    assert!(span.closed);
    assert_eq!(
        *recorder.events.lock().unwrap(),
        [("handled".to_owned(), Some("http".to_owned()))]
    );
}

#[test]
fn a_server_error_is_an_error_status() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    tracing::subscriber::with_default(subscriber, || {
        let service = RequestSpanLayer::new().layer(service_fn(|_: Request<()>| async {
            let mut response = Response::new(());
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            Ok::<_, Infallible>(response)
        }));
        drop(block_on(service.oneshot(Request::new(()))).unwrap());
    });
    let span = recorder.only_span();
    assert_eq!(span.fields["http.response.status_code"], "502");
    assert_eq!(span.fields["otel.status_code"], "ERROR");
    assert_eq!(span.fields["otel.name"], "GET");
    assert!(!span.fields.contains_key("http.route"));
}

#[test]
fn the_span_is_current_while_the_body_streams_and_closes_when_it_ends() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    tracing::subscriber::with_default(subscriber, || {
        let service = ServiceBuilder::new()
            .layer(ContextLayer::with_base(Context::new()).header_var(
                &REQUEST_ID,
                HeaderName::from_static("x-request-id"),
                |v| v.and_then(|v| v.to_str().ok()).map(str::to_owned),
            ))
            .layer(RequestSpanLayer::new())
            .service(service_fn(|_: Request<()>| async {
                Ok::<_, Infallible>(Response::new(Logging(3)))
            }));
        let response = block_on(service.oneshot(Request::new(()))).unwrap();
        assert!(!recorder.only_span().closed, "open until the body ends");
        tracing::info!("outside");
        let mut body = response.into_body();
        let bytes = block_on(async {
            let mut all = Vec::new();
            while let Some(frame) = body.frame().await {
                all.extend_from_slice(&frame.unwrap().into_data().unwrap());
            }
            all
        });
        assert_eq!(bytes, b"xxx");
        assert!(recorder.only_span().closed, "closed at the body's end");
    });
    let request = Some("request".to_owned());
    assert_eq!(
        *recorder.events.lock().unwrap(),
        [
            ("outside".to_owned(), None),
            ("chunk".to_owned(), request.clone()),
            ("chunk".to_owned(), request.clone()),
            ("chunk".to_owned(), request),
        ]
    );
    // Variables are not fields of the request span: the span layer records them once.
    assert!(!recorder.only_span().fields.contains_key("request_id"));
}

#[test]
fn every_service_gives_back_what_it_wraps() {
    let handler = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let mut span = RequestSpanLayer::new().layer(handler);
    let _: &mut _ = span.get_mut();
    let mut echo = contextvars_tower::EchoHeaderLayer::new(
        &REQUEST_ID,
        HeaderName::from_static("x-request-id"),
    )
    .layer(span);
    let _: &mut _ = echo.get_mut();
    let mut context = ContextLayer::new().layer(echo);
    let _: &mut _ = context.get_mut();
    let mut propagate = contextvars_tower::PropagateLayer::new().layer(context);
    let _: &mut _ = propagate.get_mut();
    let debug = format!("{propagate:?}");
    for name in ["Propagate", "Context", "EchoHeader", "RequestSpan"] {
        assert!(debug.contains(name), "{debug}");
    }
    let echo = propagate.into_inner().into_inner();
    let _handler = echo.get_ref().clone().into_inner();
}
