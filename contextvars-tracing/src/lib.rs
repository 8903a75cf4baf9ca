//! Context variables on every log line and every span written through [`tracing`].
//!
//! [`carry_spans`] makes the span current where work is handed off (a spawned task, a
//! blocking closure, a parallel iterator, a job, a streaming body) current where it runs, so
//! that spans made there are its children and a trace never splits at a hand-off.
//!
//! Choose the variables once with [`ContextFields`] (a list, the declared variables of a
//! module, or every declared one, minus any secret), then:
//!
//! - as an event formatter for [`tracing_subscriber::fmt()`], it writes them on every line:
//!   ` name=value` at the end of a text line (keeping the wrapped format's colours), or keys
//!   of the object of a JSON line ([`ContextFields::json`]);
//! - [`ContextFields::span_layer`] records them on every new span, so that span fields in
//!   logs and the attributes of spans exported through tracing-opentelemetry carry them;
//! - [`ContextFields::span_template`] opens spans that declare them, such as a request span.
//!
//! The subscriber formats an event, and creates a span, on the thread that emits it, inside the
//! emitting task's context: each line and span carries the values of the code that wrote it,
//! also under a multi-thread runtime and with non-blocking writers (which format first and
//! only then hand the bytes over).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! use contextvars::ContextVar;
//! use contextvars_tracing::ContextFields;
//!
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//! static USER_ID: ContextVar<u64> = ContextVar::new("user_id");
//!
//! # #[derive(Clone, Default)]
//! # struct Buffer(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Buffer {
//! #     fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
//! #         self.0.lock().unwrap().write(bytes)
//! #     }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! # let buffer = Buffer::default();
//! # let log = buffer.clone();
//! let format = ContextFields::new()
//!     .var(&REQUEST_ID)
//!     .var(&USER_ID)
//!     .with_format(tracing_subscriber::fmt::format().without_time());
//! let subscriber = tracing_subscriber::fmt()
//! #   .with_ansi(false)
//!     .event_format(format)
//! #   .with_writer(move || log.clone())
//!     .finish();
//!
//! tracing::subscriber::with_default(subscriber, || {
//!     let _id = REQUEST_ID.set("r-42".into());
//!     tracing::info!("handled");
//! });
//! # let lines = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
//! // INFO rust_out: handled request_id=r-42   (USER_ID is not set: no field)
//! # assert!(lines.trim_end().ends_with("handled request_id=r-42"), "{lines}");
//! ```
//!
//! In text lines a value with a space, a quote, an `=` or a control character is quoted and
//! escaped (`note="two\nlines"`), so that a value from a request cannot forge or colour a
//! line.
//!
//! # JSON
//!
//! Feature `json`, on by default; text-only users can leave it out (and `serde_json` with it)
//! with `default-features = false`.
//!
//! ```
//! # use std::sync::{Arc, Mutex};
//! use contextvars::ContextVar;
//! use contextvars_tracing::ContextFields;
//!
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//! static ATTEMPT: ContextVar<u32> = ContextVar::new("attempt");
//! # #[derive(Clone, Default)]
//! # struct Buffer(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Buffer {
//! #     fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
//! #         self.0.lock().unwrap().write(bytes)
//! #     }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! # let buffer = Buffer::default();
//! # let log = buffer.clone();
//!
//! let subscriber = tracing_subscriber::fmt()
//!     .json() // JSON span fields too
//!     .event_format(ContextFields::new().var(&REQUEST_ID).var(&ATTEMPT).json())
//! #   .with_writer(move || log.clone())
//!     .finish();
//! tracing::subscriber::with_default(subscriber, || {
//!     let _id = REQUEST_ID.set("req-7".into());
//!     let _attempt = ATTEMPT.set(2);
//!     tracing::info!("retrying");
//! });
//! // {"timestamp":"…","level":"INFO","fields":{"message":"retrying"},"target":"…",
//! //  "request_id":"req-7","attempt":2}
//! # let line = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
//! # assert!(line.trim_end().ends_with(r#""request_id":"req-7","attempt":2}"#), "{line}");
//! ```
//!
//! Variable keys sit beside tracing-subscriber's own (`timestamp`, `level`, `fields`,
//! `target`, `span`, `spans`, and the event's fields with `flatten_event`): give a variable a
//! name that none of those has, with [`ContextFields::var_named`], or put them all under one
//! key with [`ContextFields::nest_under`].
//!
//! # Choosing variables
//!
//! - [`var`](ContextFields::var) / [`var_named`](ContextFields::var_named): one variable;
//! - [`vars`](ContextFields::vars): declared variables, such as one module's
//!   (`module_vars!(crate::request)`, or [`VarSet::new`](contextvars::VarSet::new) over
//!   [`registry::all`](contextvars::registry::all) filtered by `module_path()`, which resets
//!   nothing);
//! - [`registered`](ContextFields::registered): every declared variable of the program;
//! - [`skip`](ContextFields::skip): a secret, never written, however it was chosen.
//!
//! A variable is written only where the current context binds it: its default does not
//! count. Declared variables are written when their type is a string, a number, `bool`,
//! `char`, an `Option` of those, or was named with [`ContextFields::display_type`]; other
//! types are left out. A value whose `Display` panics is left out of the line (the panic hook
//! still reports the panic), and the line is written.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

mod carry;
mod fields;
mod format;
#[cfg(feature = "json")]
mod json;
mod keys;
mod span;
mod text;
#[cfg(feature = "opentelemetry")]
mod trace_ids;
#[cfg(feature = "tokio")]
mod unhooked;

pub use carry::{CurrentSpan, carry_spans};
pub use format::{Colours, ContextFields, SkipVar};
pub use span::{ContextSpanLayer, SpanTemplate};
#[cfg(feature = "tokio")]
pub use unhooked::unhooked_events;
