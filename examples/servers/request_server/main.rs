//! An axum server whose handlers read the request id and the user from context variables, with
//! the request id on every log line.
//!
//! ```sh
//! cargo run -p contextvars-examples --example request_server
//! curl -H 'x-request-id: abc' -H 'x-user-id: dina' http://127.0.0.1:PORT/work/1
//! curl -N -H 'x-request-id: abc' http://127.0.0.1:PORT/stream/5   # 5 lines, one per chunk
//!
//! # load it with N concurrent requests, check every answer, print latency and throughput
//! cargo run --release -p contextvars-examples --example request_server -- --requests 20000
//! # the same server without the layer, to measure what the layer costs
//! cargo run --release -p contextvars-examples --example request_server -- --requests 20000 --no-layer
//! ```
//!
//! Options: `--port N` (default 0: any free port), `--requests N`, `--concurrency N` (default
//! 256), `--no-layer`, `--tower-http` (serving only: tower-http's request-id layers instead of
//! the context layer, to compare costs), `--log` (log every request in `--requests` mode too),
//! `--log-format text|json` (default text: JSON writes one object per line, the request id and
//! user as top-level keys).

use contextvars_examples::request_server as app;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use tracing::Level;

struct Options {
    port: u16,
    requests: Option<usize>,
    concurrency: usize,
    with_layer: bool,
    tower_http: bool,
    log: bool,
    log_format: app::LogFormat,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        port: 0,
        requests: None,
        concurrency: 256,
        with_layer: true,
        tower_http: false,
        log: false,
        log_format: app::LogFormat::Text,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                options.port = value("--port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?;
            }
            "--requests" => {
                options.requests = Some(
                    value("--requests")?
                        .parse()
                        .map_err(|e| format!("--requests: {e}"))?,
                );
            }
            "--concurrency" => {
                options.concurrency = value("--concurrency")?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?;
            }
            "--no-layer" => options.with_layer = false,
            "--tower-http" => {
                options.with_layer = false;
                options.tower_http = true;
            }
            "--log" => options.log = true,
            "--log-format" => options.log_format = value("--log-format")?.parse()?,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("request_server: {message}");
            return ExitCode::from(2);
        }
    };
    let level = if options.requests.is_none() || options.log {
        Level::INFO
    } else {
        Level::WARN
    };
    tracing::dispatcher::set_global_default(app::log_dispatch(
        options.log_format,
        level,
        std::io::stdout,
        std::io::stdout().is_terminal(),
    ))
    .expect("no other subscriber is set");

    let listener = app::bind(options.port).expect("bind 127.0.0.1");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let layer = match (options.with_layer, options.tower_http) {
        (true, _) => "with the context layer",
        (false, false) => "without the context layer",
        (false, true) => "with tower-http's request-id layers instead of the context layer",
    };
    println!("listening on http://{addr} ({layer})");

    let Some(requests) = options.requests else {
        let shutdown = async {
            tokio::signal::ctrl_c().await.expect("listen for Ctrl-C");
        };
        let router = if options.tower_http {
            router_with_tower_http()
        } else {
            app::router(options.with_layer)
        };
        app::serve(listener, router, shutdown).await.expect("serve");
        return ExitCode::SUCCESS;
    };

    let server = app::spawn(listener, options.with_layer);
    let start = Instant::now();
    let outcomes = app::send_requests(addr, requests, options.concurrency).await;
    let elapsed = start.elapsed();
    server.stop().await.expect("serve");

    let summary = app::summarize(&outcomes, elapsed, options.with_layer);
    for outcome in outcomes.iter().filter(|o| o.answer.is_err()).take(3) {
        eprintln!("request {} failed: {:?}", outcome.n, outcome.answer);
    }
    if let Some(first) = outcomes.first() {
        println!(
            "request 0 answered: {}",
            first.answer.as_deref().unwrap_or("(error)")
        );
    }
    println!("requests: {}", summary.requests);
    println!("errors: {}", summary.errors);
    if options.with_layer {
        println!("crosstalk: {}", summary.crosstalk);
    } else {
        println!("crosstalk: not checked (without the layer the answers cannot carry the values)");
    }
    println!(
        "latency: p50 {:.3} ms, p99 {:.3} ms",
        summary.p50.as_secs_f64() * 1e3,
        summary.p99.as_secs_f64() * 1e3
    );
    println!(
        "throughput: {:.0} requests/s over {:.2} s ({} concurrent)",
        summary.per_second,
        elapsed.as_secs_f64(),
        options.concurrency
    );
    if summary.crosstalk > 0 || summary.errors > 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The app without the context layer, behind tower-http's `SetRequestIdLayer` (a missing
/// `x-request-id` generated) and `PropagateRequestIdLayer` (echoed on the response): what the
/// context layer's cost is compared with.
fn router_with_tower_http() -> axum::Router {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    let x_request_id = axum::http::HeaderName::from_static("x-request-id");
    app::router(false)
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
}
