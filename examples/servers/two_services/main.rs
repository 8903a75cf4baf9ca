//! Two axum services in one process: a gateway and a backend it calls, with one trace across
//! both. The gateway sets the request id, the tenant and the user from headers and continues
//! its client's `traceparent`; the request id and the tenant are declared `propagate` and reach
//! the backend as W3C baggage, beside the trace context of the gateway's client span, through
//! one OpenTelemetry propagator on each side. The user id stays home.
//!
//! ```sh
//! cargo run -p contextvars-examples --example two_services -- \
//!     --serve --spans /tmp/spans.jsonl --logs /tmp/logs.jsonl
//! curl -H 'x-request-id: abc' -H 'x-tenant: acme' -H 'x-user-id: dina' http://127.0.0.1:P1/call
//! # {"request_id":"abc","tenant":"acme","user_id":"anonymous"}
//! curl http://127.0.0.1:P1/stream/3
//! # Ctrl-C: both services finish their requests, then both files are flushed.
//!
//! # N concurrent requests, each with its own id, tenant and (every other one) traceparent;
//! # every answer and every request's trace checked
//! cargo run -p contextvars-examples --example two_services -- --requests 2000
//! ```
//!
//! Options: `--serve`, `--requests N`, `--concurrency N` (default 256), `--spans FILE`, `--logs
//! FILE`. Built with `RUSTFLAGS="--cfg tokio_unstable"`, the runtime has the context hooks
//! (`contextvars::tokio::inherit_on_spawn`) and `/call` spawns its task with a plain
//! `tokio::spawn`, as a library would.

use std::process::ExitCode;

use contextvars_examples::two_services::app;
use contextvars_examples::two_services::telemetry::{self, Lines};

enum Mode {
    Serve,
    Load { requests: usize, concurrency: usize },
}

struct Options {
    mode: Mode,
    spans: Option<String>,
    logs: Option<String>,
}

fn parse_options() -> Result<Options, String> {
    let mut serve = false;
    let mut requests = None;
    let mut concurrency = 256;
    let (mut spans, mut logs) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--serve" => serve = true,
            "--requests" => {
                requests = Some(
                    value("--requests")?
                        .parse()
                        .map_err(|e| format!("--requests: {e}"))?,
                );
            }
            "--concurrency" => {
                concurrency = value("--concurrency")?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?;
            }
            "--spans" => spans = Some(value("--spans")?),
            "--logs" => logs = Some(value("--logs")?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let mode = match (serve, requests) {
        (true, None) => Mode::Serve,
        (false, Some(requests)) => Mode::Load {
            requests,
            concurrency,
        },
        _ => return Err("give either --serve or --requests N".to_owned()),
    };
    Ok(Options { mode, spans, logs })
}

fn lines(path: Option<&str>) -> Result<Lines, String> {
    path.map_or_else(
        || Ok(Lines::memory()),
        |path| Lines::file(path).map_err(|err| format!("{path}: {err}")),
    )
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("two_services: {message}");
            return ExitCode::from(2);
        }
    };
    let (spans, logs) = match (
        lines(options.spans.as_deref()),
        lines(options.logs.as_deref()),
    ) {
        (Ok(spans), Ok(logs)) => (spans, logs),
        (Err(message), _) | (_, Err(message)) => {
            eprintln!("two_services: {message}");
            return ExitCode::from(2);
        }
    };
    let provider = telemetry::install(&spans, &logs);
    let runtime = app::runtime();
    let code = match options.mode {
        Mode::Serve => runtime.block_on(serve()),
        Mode::Load {
            requests,
            concurrency,
        } => {
            let tally = runtime.block_on(load(requests, concurrency));
            // A span ends when its last handle goes, and a task's context (which carries the
            // span current where it was spawned) may outlive the request: the trees are checked
            // once the runtime is gone with every task, when every span has ended.
            drop(runtime);
            report(&tally, requests, &spans.parsed())
        }
    };
    let _ = provider.shutdown();
    logs.flush();
    code
}

async fn serve() -> ExitCode {
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let (gateway, backend, served) = app::start(shutdown).expect("bind two loopback ports");
    println!("gateway={gateway} backend={backend}");
    let _ = served.await;
    ExitCode::SUCCESS
}

async fn load(requests: usize, concurrency: usize) -> app::Tally {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (gateway, _backend, served) = app::start(async {
        let _ = stopped.await;
    })
    .expect("bind two loopback ports");
    let tally = app::load(gateway, requests, concurrency).await;
    let _ = stop.send(());
    let _ = served.await;
    tally
}

fn report(tally: &app::Tally, requests: usize, spans: &[serde_json::Value]) -> ExitCode {
    if let Some(first) = &tally.first {
        println!("request 0 answered: {first}");
    }
    println!("requests: {requests}");
    println!("errors: {}", tally.errors);
    let traces = app::check_load_traces(spans, requests);
    println!("crosstalk: {}", tally.crosstalk + traces.crosstalk);
    println!("split traces: {}", traces.split);
    if tally.crosstalk + traces.crosstalk > 0 || tally.errors > 0 || traces.split > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
