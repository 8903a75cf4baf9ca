//! W3C trace context at the edge, with OpenTelemetry's SDK and its in-memory exporter: a
//! gateway continues its client's `traceparent`, calls a backend through `PropagateLayer` in a
//! client span, and the backend's server span is that client span's child; baggage follows the
//! public-edge rule in the same configuration.

use std::convert::Infallible;

use contextvars::baggage::Accept;
use contextvars::{Context, context_var};
use contextvars_opentelemetry::BaggagePropagator;
use contextvars_tower::otel::RemoteContext;
use contextvars_tower::{ContextLayer, PropagateLayer, RequestSpanLayer};
use http::{Request, Response, StatusCode};
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::{Layer as _, ServiceBuilder, ServiceExt, service_fn};
use tracing_subscriber::prelude::*;

#[context_var(default = String::from("none"), propagate = "tenant")]
static TENANT: String;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn composite(accept: Accept) -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new().accept_baggage(accept)),
    ])
}

fn with_exporter(f: impl FnOnce()) -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("tests")));
    tracing::subscriber::with_default(subscriber, f);
    provider.force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

/// Polls `future` to completion, which every service here reaches at once. Not
/// `futures::executor::block_on`: the SDK's simple span processor runs one of its own when a
/// span ends, which may be inside the poll.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the services here complete at once"),
    }
}

/// The span of `target`: the exported name is OpenTelemetry's, the method and the route.
fn named<'a>(spans: &'a [SpanData], target: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|span| attribute(span, "target").as_deref() == Some(target))
        .unwrap_or_else(|| panic!("no span of {target} in {spans:?}"))
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// A backend answering what it saw: the `traceparent` it was sent, and the tenant it believes.
fn backend() -> impl tower::Service<
    Request<()>,
    Response = Response<impl http_body::Body<Data = bytes::Bytes, Error = Infallible>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    ServiceBuilder::new()
        .layer(
            ContextLayer::with_base(Context::new())
                .propagator(composite(Accept::none().var(&TENANT))),
        )
        .layer(RequestSpanLayer::new().target("backend"))
        .service(service_fn(|request: Request<()>| async move {
            let remote = request.extensions().get::<RemoteContext>().cloned();
            let parent =
                remote.map(|remote| remote.get().span().span_context().span_id().to_string());
            let mut response =
                Response::new(format!("{} {}", TENANT.get(), parent.unwrap_or_default()));
            if TENANT.get() == "fail" {
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            }
            Ok::<_, Infallible>(response)
        }))
}

#[test]
fn one_trace_crosses_the_gateway_and_the_backend() {
    let spans = with_exporter(|| {
        let gateway = ServiceBuilder::new()
            .layer(ContextLayer::with_base(Context::new()).propagator(composite(Accept::none())))
            .layer(RequestSpanLayer::new().target("gateway"))
            .service(service_fn(|_: Request<()>| async {
                let _tenant = TENANT.set("acme".to_owned());
                let client = PropagateLayer::new()
                    .propagator(composite(Accept::none()))
                    .client_span("call_backend", "client", tracing::Level::INFO)
                    .layer(backend());
                let response = client.oneshot(Request::new(())).await.unwrap();
                let body = http_body_util::BodyExt::collect(response.into_body())
                    .await
                    .unwrap()
                    .to_bytes();
                Ok::<_, Infallible>(Response::new(String::from_utf8(body.to_vec()).unwrap()))
            }));
        let request = Request::builder()
            .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
            .header("baggage", "tenant=forged")
            .body(())
            .unwrap();
        let response = block_on(gateway.oneshot(request)).unwrap();
        let answer = response.body().get_ref().get_ref().clone();
        drop(response);
        let (tenant, parent) = answer.split_once(' ').unwrap();
        // The gateway's own value travelled, not the client's forged one.
        assert_eq!(tenant, "acme");
        assert_eq!(parent.len(), 16);
    });
    let gateway = named(&spans, "gateway");
    let client = named(&spans, "client");
    let backend = named(&spans, "backend");
    for span in [gateway, client, backend] {
        assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
    }
    assert_eq!(gateway.parent_span_id.to_string(), PARENT_ID);
    assert_eq!(client.parent_span_id, gateway.span_context.span_id());
    assert_eq!(backend.parent_span_id, client.span_context.span_id());
    assert_eq!(gateway.span_kind, SpanKind::Server);
    assert_eq!(client.span_kind, SpanKind::Client);
    assert_eq!(backend.span_kind, SpanKind::Server);
    assert_eq!(
        attribute(backend, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(attribute(backend, "url.path").as_deref(), Some("/"));
    assert_eq!(
        attribute(backend, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attribute(client, "http.response.status_code").as_deref(),
        Some("200")
    );
}

#[test]
fn a_public_edge_continues_the_trace_but_believes_none_of_the_baggage() {
    let spans = with_exporter(|| {
        let edge = ContextLayer::with_base(Context::new())
            .propagator(composite(Accept::none()))
            .layer(RequestSpanLayer::new().target("edge").layer(service_fn(
                |_: Request<()>| async { Ok::<_, Infallible>(Response::new(TENANT.get())) },
            )));
        let request = Request::builder()
            .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
            .header("baggage", "tenant=acme")
            .body(())
            .unwrap();
        let response = block_on(edge.oneshot(request)).unwrap();
        assert_eq!(response.body().get_ref().get_ref(), "none");
    });
    let edge = named(&spans, "edge");
    assert_eq!(edge.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(edge.parent_span_id.to_string(), PARENT_ID);
}

#[test]
fn a_bad_traceparent_starts_a_new_trace_and_a_5xx_is_an_error() {
    let spans = with_exporter(|| {
        let request = Request::builder()
            .header(
                "traceparent",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            )
            .header("baggage", "tenant=fail")
            .body(())
            .unwrap();
        let response = block_on(backend().oneshot(request)).unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    });
    let backend = named(&spans, "backend");
    assert_ne!(backend.span_context.trace_id().to_string(), "0".repeat(32));
    assert_eq!(backend.parent_span_id.to_string(), "0".repeat(16));
    assert!(matches!(backend.status, Status::Error { .. }));
}

#[test]
fn with_the_context_carried_the_caller_s_span_is_current_in_the_request() {
    contextvars_opentelemetry::carry_context();
    let service = ContextLayer::with_base(Context::new())
        .propagator(TraceContextPropagator::new())
        .layer(service_fn(|_: Request<()>| async {
            let current = opentelemetry::Context::current();
            let span = current.span().span_context().clone();
            Ok::<_, Infallible>(Response::new((
                span.trace_id().to_string(),
                span.span_id().to_string(),
            )))
        }));
    let request = Request::builder()
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .body(())
        .unwrap();
    let response = block_on(service.oneshot(request)).unwrap();
    let (trace_id, span_id) = response.body().get_ref().clone();
    assert_eq!((trace_id.as_str(), span_id.as_str()), (TRACE_ID, PARENT_ID));
    // Outside the request, nothing of it.
    assert!(!opentelemetry::Context::current().has_active_span());
}
