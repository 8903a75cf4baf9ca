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
//! 256), `--no-layer`, `--no-echo` (serving only: the context layer without the echo of the
//! request id on every response, to measure the context layer alone against `--no-layer`),
//! `--tower-http` (serving only: tower-http's request-id layers instead of the context layer, to
//! compare costs), `--log` (log every request in `--requests` mode too),
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
    layers: Layers,
    log: bool,
    log_format: app::LogFormat,
}

/// What the server's routes are wrapped in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layers {
    /// The context layer and the echo of the request id on every response: the app.
    ContextAndEcho,
    /// The context layer alone (`--no-echo`).
    Context,
    /// No layer (`--no-layer`).
    None,
    /// tower-http's request-id layers instead (`--tower-http`).
    TowerHttp,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        port: 0,
        requests: None,
        concurrency: 256,
        layers: Layers::ContextAndEcho,
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
            "--no-layer" => options.layers = Layers::None,
            "--no-echo" => {
                if options.layers == Layers::ContextAndEcho {
                    options.layers = Layers::Context;
                }
            }
            "--tower-http" => options.layers = Layers::TowerHttp,
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
    let layer = match options.layers {
        Layers::ContextAndEcho => "with the context layer and the echo of the request id",
        Layers::Context => "with the context layer, without the echo of the request id",
        Layers::None => "without the context layer",
        Layers::TowerHttp => "with tower-http's request-id layers instead of the context layer",
    };
    let with_layer = matches!(options.layers, Layers::ContextAndEcho | Layers::Context);
    println!("listening on http://{addr} ({layer})");

    let Some(requests) = options.requests else {
        let shutdown = async {
            tokio::signal::ctrl_c().await.expect("listen for Ctrl-C");
        };
        let router = match options.layers {
            Layers::ContextAndEcho => app::router(true),
            Layers::Context => app::router_without_echo(),
            Layers::None => app::router(false),
            Layers::TowerHttp => router_with_tower_http(),
        };
        app::serve(listener, router, shutdown).await.expect("serve");
        return ExitCode::SUCCESS;
    };

    let server = app::spawn(listener, with_layer);
    let start = Instant::now();
    let outcomes = app::send_requests(addr, requests, options.concurrency).await;
    let elapsed = start.elapsed();
    server.stop().await.expect("serve");

    let summary = app::summarize(&outcomes, elapsed, with_layer);
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
    if with_layer {
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
    // One `Router::layer`, as `app::router` adds its two.
    app::router(false).layer(
        tower::ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(
                x_request_id.clone(),
                MakeRequestUuid,
            ))
            .layer(PropagateRequestIdLayer::new(x_request_id)),
    )
}
