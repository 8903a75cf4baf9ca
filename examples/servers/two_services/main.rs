//! Two axum services in one process: a gateway and a backend it calls. The gateway sets the
//! request id, the tenant and the user from headers; the request id and the tenant are declared
//! `propagate` and reach the backend as W3C baggage through the gateway's HTTP client layer,
//! the user id stays home.
//!
//! ```sh
//! cargo run -p contextvars-examples --example two_services -- --serve
//! curl -H 'x-request-id: abc' -H 'x-tenant: acme' -H 'x-user-id: dina' http://127.0.0.1:P1/call
//! # {"request_id":"abc","tenant":"acme","user_id":"anonymous"}
//!
//! # N concurrent requests, each with its own id and tenant, every answer checked
//! cargo run -p contextvars-examples --example two_services -- --requests 2000
//! ```
//!
//! Options: `--serve`, `--requests N`, `--concurrency N` (default 256).

mod app;

use std::process::ExitCode;

enum Mode {
    Serve,
    Load { requests: usize, concurrency: usize },
}

fn parse_options() -> Result<Mode, String> {
    let mut serve = false;
    let mut requests = None;
    let mut concurrency = 256;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            let value = args.next().ok_or_else(|| format!("{name} needs a value"))?;
            value.parse().map_err(|e| format!("{name}: {e}"))
        };
        match arg.as_str() {
            "--serve" => serve = true,
            "--requests" => requests = Some(number("--requests")?),
            "--concurrency" => concurrency = number("--concurrency")?,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    match (serve, requests) {
        (true, None) => Ok(Mode::Serve),
        (false, Some(requests)) => Ok(Mode::Load {
            requests,
            concurrency,
        }),
        _ => Err("give either --serve or --requests N".to_owned()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mode = match parse_options() {
        Ok(mode) => mode,
        Err(message) => {
            eprintln!("two_services: {message}");
            return ExitCode::from(2);
        }
    };
    let (gateway, backend) = app::start().expect("bind two loopback ports");
    match mode {
        Mode::Serve => {
            println!("gateway={gateway} backend={backend}");
            tokio::signal::ctrl_c().await.expect("listen for Ctrl-C");
            ExitCode::SUCCESS
        }
        Mode::Load {
            requests,
            concurrency,
        } => {
            let tally = app::load(gateway, requests, concurrency).await;
            if let Some(first) = &tally.first {
                println!("request 0 answered: {first}");
            }
            println!("requests: {requests}");
            println!("errors: {}", tally.errors);
            println!("crosstalk: {}", tally.crosstalk);
            if tally.crosstalk > 0 || tally.errors > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
