//! The request server example, loaded for real: 2,000 concurrent HTTP requests on a multi-thread
//! runtime, each answered and logged with exactly its own values; 200 concurrent streaming
//! responses whose every chunk, produced after the handler returned, carries its own request's
//! id; and no value left behind by one request is ever seen by the next one on the same worker
//! thread.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use contextvars_examples::request_server as app;
use contextvars_tests::log_buffer::LogBuffer;
use contextvars_tests::runtime::multi_thread_runtime;

/// Installs the process-wide subscriber once; every test shares the buffer.
fn log_buffer() -> &'static LogBuffer {
    static BUFFER: OnceLock<LogBuffer> = OnceLock::new();
    BUFFER.get_or_init(|| {
        let buffer = LogBuffer::default();
        app::log_to(app::LogFormat::Text, buffer.make_writer());
        buffer
    })
}

/// Serves the app on an ephemeral loopback port; call inside a runtime.
fn start(with_layer: bool) -> app::Running {
    app::spawn(app::bind(0).unwrap(), with_layer)
}

/// The value of `key=` on a log line, and how many times the key appears.
fn field<'a>(line: &'a str, key: &str) -> (Option<&'a str>, usize) {
    let prefix = format!("{key}=");
    let mut values = line
        .split_whitespace()
        .filter_map(|token| token.strip_prefix(prefix.as_str()));
    let first = values.next();
    (first, usize::from(first.is_some()) + values.count())
}

#[test]
fn two_thousand_concurrent_requests_each_see_and_log_only_their_own_values() {
    const REQUESTS: usize = 2_000;
    let logs = log_buffer();
    let runtime = multi_thread_runtime(4);
    let outcomes = runtime.block_on(async {
        let server = start(true);
        let addr = server.addr;
        let started = std::time::Instant::now();
        let outcomes = tokio::time::timeout(
            Duration::from_secs(120),
            app::send_requests(addr, REQUESTS, REQUESTS),
        )
        .await
        .expect("2,000 requests answered within two minutes");
        let elapsed = started.elapsed();
        server.stop().await.unwrap();
        (outcomes, elapsed)
    });
    let (outcomes, elapsed) = outcomes;

    assert_eq!(outcomes.len(), REQUESTS);
    let summary = app::summarize(&outcomes, elapsed, true);
    assert_eq!(
        (summary.requests, summary.errors, summary.crosstalk),
        (REQUESTS, 0, 0)
    );
    println!(
        "{REQUESTS} requests: p50 {:?}, p99 {:?}, {:.0} requests/s",
        summary.p50, summary.p99, summary.per_second
    );
    for outcome in &outcomes {
        let n = outcome.n;
        let own = format!("request_id=req-{n} user_id=user-{n}");
        assert_eq!(outcome.answer.as_deref(), Ok(own.as_str()), "request {n}");
        assert_eq!(app::expected_answer(n), own);
    }

    let text = logs.text();
    let mut lines_per_request = vec![0_usize; REQUESTS];
    for line in text.lines().filter(|line| line.contains("n=")) {
        let n: usize = field(line, "n").0.unwrap().parse().unwrap();
        assert_eq!(
            field(line, "request_id"),
            (Some(format!("req-{n}").as_str()), 1),
            "{line}"
        );
        assert_eq!(
            field(line, "user_id"),
            (Some(format!("user-{n}").as_str()), 1),
            "{line}"
        );
        lines_per_request[n] += 1;
    }
    // "request received", "subtask", "answered".
    assert!(
        lines_per_request.iter().all(|&count| count == 3),
        "every request logs three lines: {:?}",
        lines_per_request.iter().filter(|&&c| c != 3).count()
    );
}

/// One HTTP/1 connection to `addr`: its sender, and the task that drives it.
async fn connect(
    addr: SocketAddr,
) -> (
    hyper::client::conn::http1::SendRequest<Empty>,
    tokio::task::JoinHandle<hyper::Result<()>>,
) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    (sender, tokio::spawn(connection))
}

type Empty = http_body_util::Empty<hyper::body::Bytes>;

/// `GET path` to `addr` with `x-request-id: id`.
fn get(addr: SocketAddr, path: &str, id: &str) -> hyper::Request<Empty> {
    hyper::Request::get(path)
        .header("host", addr.to_string())
        .header("x-request-id", id)
        .body(Empty::new())
        .unwrap()
}

/// Sends `ids` one after the other to `/remember` on one keep-alive connection, so every
/// request is handled by the same connection task; what each request found there.
async fn remembered(addr: SocketAddr, ids: &[&str]) -> Vec<String> {
    let (mut sender, connection) = connect(addr).await;
    let mut seen = Vec::new();
    for id in ids {
        let request = get(addr, "/remember", id);
        let response = sender.send_request(request).await.unwrap();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        seen.push(String::from_utf8(body.to_vec()).unwrap());
    }
    drop(sender);
    connection.await.unwrap().unwrap();
    seen
}

/// [`remembered`] for requests `r-1`, `r-2` and `r-3`, served with or without the layer on a
/// current-thread runtime (one worker thread).
fn remembered_on_one_thread(with_layer: bool) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = start(with_layer);
        let seen = remembered(server.addr, &["r-1", "r-2", "r-3"]).await;
        server.stop().await.unwrap();
        seen
    })
}

#[test]
fn a_value_set_by_one_request_is_never_seen_by_the_next_on_the_same_thread() {
    assert_eq!(
        remembered_on_one_thread(true),
        ["nobody", "nobody", "nobody"]
    );
}

/// The control for the test above: without the layer, the handler's value stays in the worker
/// thread's context and the next request reads it (uvicorn's bug before
/// `--reset-contextvars`).
#[test]
fn without_the_layer_the_next_request_sees_the_leftover_value() {
    assert_eq!(remembered_on_one_thread(false), ["nobody", "r-1", "r-2"]);
}

/// `GET /stream/{lines}` with `x-request-id: {id}`: the body's frames as they arrived.
async fn stream_frames(addr: SocketAddr, id: String, lines: usize) -> Vec<String> {
    let (mut sender, connection) = connect(addr).await;
    let request = get(addr, &format!("/stream/{lines}"), &id);
    let mut body = sender.send_request(request).await.unwrap().into_body();
    let mut frames = Vec::new();
    while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
        if let Ok(data) = frame.unwrap().into_data() {
            frames.push(String::from_utf8(data.to_vec()).unwrap());
        }
    }
    drop(sender);
    connection.await.unwrap().unwrap();
    frames
}

#[test]
fn two_hundred_concurrent_streams_carry_their_own_request_id_in_every_chunk() {
    const STREAMS: usize = 200;
    const LINES: usize = 5;
    let runtime = multi_thread_runtime(4);
    runtime.block_on(async {
        let server = start(true);
        let addr = server.addr;
        let clients: Vec<_> = (0..STREAMS)
            .map(|n| tokio::spawn(stream_frames(addr, format!("req-{n}"), LINES)))
            .collect();
        for (n, client) in clients.into_iter().enumerate() {
            let frames = client.await.unwrap();
            let own = format!("request_id=req-{n}");
            let lines: Vec<&str> = frames.iter().flat_map(|frame| frame.lines()).collect();
            assert_eq!(lines.len(), LINES, "request {n}: {frames:?}");
            assert!(
                lines.iter().all(|line| *line == own),
                "request {n}: {frames:?}"
            );
            assert!(
                frames.iter().all(|frame| frame.ends_with('\n')),
                "{frames:?}"
            );
        }
        server.stop().await.unwrap();
    });
}
