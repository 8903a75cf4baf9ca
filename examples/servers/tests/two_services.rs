//! The two-services example under load, on the example's own runtime (with the context hooks
//! under `--cfg tokio_unstable`): 2,000 concurrent requests through the gateway, every backend
//! answer with exactly its own request id and tenant and the default user id (the user never
//! leaves the gateway, and the clients' forged baggage never gets past it); every request's
//! spans one tree under the gateway's server span, continuing the client's `traceparent` when
//! it sent one; a streamed body's chunks in the request's trace; every log line with its
//! request's values.

use contextvars_examples::two_services::app;
use contextvars_examples::two_services::telemetry::{self, Lines};

#[test]
fn every_request_is_one_tree_with_its_own_values_across_both_services() {
    let logs_file =
        std::env::temp_dir().join(format!("two_services_logs_{}.jsonl", std::process::id()));
    let (spans, logs) = (
        Lines::memory(),
        Lines::file(logs_file.to_str().unwrap()).unwrap(),
    );
    let provider = telemetry::install(&spans, &logs);
    let (tally, streamed) = app::runtime().block_on(async {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (gateway, _backend, served) = app::start(async {
            let _ = stopped.await;
        })
        .unwrap();
        let tally = app::load(gateway, 2_000, 2_000).await;
        let streamed = stream(gateway).await;
        let _ = stop.send(());
        served.await.unwrap();
        (tally, streamed)
    });
    provider.force_flush().unwrap();
    assert_eq!(tally.errors, 0);
    assert_eq!(tally.crosstalk, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&tally.first.unwrap()).unwrap(),
        app::expected_answer(0)
    );
    assert_eq!(streamed, "request_id=s-1\n".repeat(3));

    let spans = spans.parsed();
    let load = app::check_load_traces(&spans, 2_000);
    assert_eq!(load, telemetry::TraceTally::default());
    let trace_of: std::collections::HashMap<&str, &str> = spans
        .iter()
        .map(|span| {
            (
                span["span_id"].as_str().unwrap(),
                span["trace_id"].as_str().unwrap(),
            )
        })
        .collect();
    let traces = telemetry::check_traces(
        &spans,
        [telemetry::Expected {
            request_id: "s-1".to_owned(),
            spans: &[("GET /stream/{n}", 1), ("chunk", 3)],
            continued: None,
        }],
    );
    assert_eq!(traces, telemetry::TraceTally::default());

    // Every log line is a JSON object with its request's id, the tenant that goes with it, and
    // the ids of the span it was logged in: one line per step and per chunk, one in the backend.
    let logs = logs.parsed();
    assert_eq!(logs.len(), 2_000 * 8 + 3, "one line per step");
    for line in &logs {
        let id = line["request_id"].as_str().unwrap();
        if let Some(n) = id.strip_prefix("req-") {
            let n: usize = n.parse().unwrap();
            assert_eq!(line["tenant"], format!("tenant-{}", n % 7), "{line}");
        }
        let span_id = line["span_id"].as_str().unwrap();
        assert_eq!(
            Some(&line["trace_id"].as_str().unwrap()),
            trace_of.get(span_id),
            "{line}"
        );
    }
    let _ = std::fs::remove_file(logs_file);
}

async fn stream(gateway: std::net::SocketAddr) -> String {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<hyper::body::Bytes>>();
    let request = hyper::Request::get(format!("http://{gateway}/stream/3"))
        .header("x-request-id", "s-1")
        .body(http_body_util::Empty::new())
        .unwrap();
    let body = client.request(request).await.unwrap().into_body();
    String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap()
}
