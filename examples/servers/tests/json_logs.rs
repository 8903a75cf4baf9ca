//! The request server with JSON logs, loaded for real: 2,000 concurrent HTTP requests on a
//! multi-thread runtime, every log line valid JSON, every event of a request carrying exactly
//! that request's id and user, and lines outside requests carrying neither.

use std::time::Duration;

use contextvars_examples::request_server as app;
use contextvars_tests::log_buffer::LogBuffer;
use contextvars_tests::runtime::multi_thread_runtime;
use serde_json::Value;

/// How many times `"key":` occurs on a raw line: `serde_json` keeps one of duplicate keys.
fn occurrences(line: &str, key: &str) -> usize {
    line.matches(&format!("\"{key}\":")).count()
}

#[test]
fn two_thousand_concurrent_requests_log_valid_json_with_only_their_own_values() {
    const REQUESTS: usize = 2_000;
    let buffer = LogBuffer::default();
    app::log_to(app::LogFormat::Json, buffer.make_writer());

    let runtime = multi_thread_runtime(4);
    let outcomes = runtime.block_on(async {
        tracing::info!(requests = REQUESTS, "load started");
        let server = app::spawn(app::bind(0).unwrap(), true);
        let outcomes = tokio::time::timeout(
            Duration::from_secs(120),
            app::send_requests(server.addr, REQUESTS, REQUESTS),
        )
        .await
        .expect("2,000 requests answered within two minutes");
        server.stop().await.unwrap();
        tokio::spawn(async { tracing::info!("load finished") })
            .await
            .unwrap();
        outcomes
    });
    let summary = app::summarize(&outcomes, Duration::from_secs(1), true);
    assert_eq!(
        (summary.requests, summary.errors, summary.crosstalk),
        (REQUESTS, 0, 0)
    );

    let text = buffer.text();
    let mut lines_per_request = vec![0_usize; REQUESTS];
    let mut outside = 0;
    for line in text.lines() {
        let json: Value = serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
        if let Some(n) = json["fields"]["n"].as_u64() {
            let n = usize::try_from(n).unwrap();
            assert_eq!(json["request_id"], format!("req-{n}"), "{line}");
            assert_eq!(json["user_id"], format!("user-{n}"), "{line}");
            assert_eq!(occurrences(line, "request_id"), 1, "{line}");
            assert_eq!(occurrences(line, "user_id"), 1, "{line}");
            lines_per_request[n] += 1;
        } else {
            assert_eq!(occurrences(line, "request_id"), 0, "{line}");
            assert_eq!(occurrences(line, "user_id"), 0, "{line}");
            outside += 1;
        }
    }
    // "request received", "subtask", "answered".
    assert!(
        lines_per_request.iter().all(|&count| count == 3),
        "every request logs three lines: {} do not",
        lines_per_request.iter().filter(|&&c| c != 3).count()
    );
    assert_eq!(outside, 2, "load started, load finished");
}
