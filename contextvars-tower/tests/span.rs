//! The request span and the echoed header, inside the context layer.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use contextvars::ContextVar;
use contextvars_tower::{ContextLayer, EchoHeaderLayer, RequestSpanLayer};
use contextvars_tracing::ContextFields;
use futures::executor::block_on;
use http::{HeaderValue, Request, Response};
use tower::{ServiceBuilder, ServiceExt, service_fn};

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");

fn from_header(value: Option<&HeaderValue>) -> String {
    value
        .and_then(|v| v.to_str().ok())
        .unwrap_or("generated")
        .to_owned()
}

async fn ok(_: Request<()>) -> Result<Response<()>, Infallible> {
    tracing::info!("handled");
    Ok(Response::new(()))
}

#[test]
fn the_request_s_variable_is_echoed_unless_the_response_has_the_header() {
    let service = ServiceBuilder::new()
        .layer(ContextLayer::new().header_var(&REQUEST_ID, "x-request-id", from_header))
        .layer(EchoHeaderLayer::new(&REQUEST_ID, "x-request-id"))
        .service(service_fn(|request: Request<()>| async move {
            let mut response = Response::new(());
            if request.uri().path() == "/own" {
                response
                    .headers_mut()
                    .insert("x-request-id", HeaderValue::from_static("own"));
            }
            if request.uri().path() == "/control" {
                REQUEST_ID.set("bad\nvalue".into());
            }
            Ok::<_, Infallible>(response)
        }));
    let call = |uri: &str, id: Option<&str>| {
        let mut request = Request::builder().uri(uri);
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        let response = block_on(service.clone().oneshot(request.body(()).unwrap())).unwrap();
        response
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(call("/", Some("r-1")).as_deref(), Some("r-1"));
    assert_eq!(call("/", None).as_deref(), Some("generated"));
    assert_eq!(call("/own", Some("r-2")).as_deref(), Some("own"));
    // A value that is no valid header value is left out, and the response goes out.
    assert_eq!(call("/control", Some("r-3")), None);
}

#[test]
fn a_variable_not_set_in_the_request_adds_no_header() {
    static UNSET: ContextVar<u64> = ContextVar::with_default("unset", || 7);
    let service = ServiceBuilder::new()
        .layer(ContextLayer::new())
        .layer(EchoHeaderLayer::new(&UNSET, "x-unset"))
        .service(service_fn(ok));
    let response = block_on(service.oneshot(Request::new(()))).unwrap();
    assert!(response.headers().get("x-unset").is_none());
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn events_inside_a_request_are_inside_its_span_with_its_variables() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    let fields = ContextFields::new().var(&REQUEST_ID);
    let service = ServiceBuilder::new()
        .layer(ContextLayer::new().header_var(&REQUEST_ID, "x-request-id", from_header))
        .layer(RequestSpanLayer::new(&fields))
        .service(service_fn(ok));
    tracing::subscriber::with_default(subscriber, || {
        block_on(async {
            let requests = (0..20).map(|n| {
                let request = Request::post(format!("/items/{n}"))
                    .header("x-request-id", format!("req-{n}"))
                    .body(())
                    .unwrap();
                service.clone().oneshot(request)
            });
            for response in futures::future::join_all(requests).await {
                response.unwrap();
            }
        });
        tracing::info!("after");
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 21);
    for line in &lines[..20] {
        let span = &line["span"];
        let n = span["path"]
            .as_str()
            .unwrap()
            .strip_prefix("/items/")
            .unwrap();
        assert_eq!(span["name"], "request");
        assert_eq!(span["method"], "POST");
        assert_eq!(span["request_id"], format!("req-{n}"));
    }
    assert!(lines[20].get("span").is_none());
}
