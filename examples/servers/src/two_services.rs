//! The two-services example's application code (`--example two_services`): the gateway and the
//! backend, and where their spans and log lines go.

pub mod app;
pub mod telemetry;
