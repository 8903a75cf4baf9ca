//! JSON lines: one valid object per event, the variables as keys of the right JSON types.

mod common;

use common::{Broken, Buffer};
use contextvars::ContextVar;
use contextvars_tracing::{ContextFields, ContextFormat};
use serde_json::{Value, json};

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static ATTEMPT: ContextVar<u32> = ContextVar::new("attempt");
static RATIO: ContextVar<f64> = ContextVar::new("ratio");
static ADMIN: ContextVar<bool> = ContextVar::new("admin");
static DELTA: ContextVar<i64> = ContextVar::new("delta");
static INITIAL: ContextVar<char> = ContextVar::new("initial");

fn all_vars() -> ContextFields {
    ContextFields::new()
        .var(&REQUEST_ID)
        .var(&ATTEMPT)
        .var(&RATIO)
        .var(&ADMIN)
        .var(&DELTA)
        .var(&INITIAL)
}

fn log_json<L, T>(format: ContextFormat<L, T>, f: impl FnOnce()) -> Vec<Value>
where
    ContextFormat<L, T>: tracing_subscriber::fmt::FormatEvent<
            tracing_subscriber::Registry,
            tracing_subscriber::fmt::format::JsonFields,
        > + Send
        + Sync
        + 'static,
{
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .event_format(format)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    buffer.json_lines()
}

#[test]
fn variables_are_top_level_keys_of_their_json_types() {
    let lines = log_json(all_vars().json(), || {
        tracing::info!("outside");
        let _id = REQUEST_ID.set("req-7".into());
        let _attempt = ATTEMPT.set(2);
        let _ratio = RATIO.set(0.5);
        let _admin = ADMIN.set(true);
        let _delta = DELTA.set(-3);
        let _initial = INITIAL.set('é');
        tracing::info!(n = 1, "inside");
    });
    assert_eq!(lines.len(), 2);
    let outside = lines[0].as_object().unwrap();
    let mut keys: Vec<&str> = outside.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["fields", "level", "target", "timestamp"],
        "{outside:?}"
    );
    let inside = &lines[1];
    assert_eq!(inside["fields"], json!({"message": "inside", "n": 1}));
    assert_eq!(inside["level"], "INFO");
    assert_eq!(inside["request_id"], json!("req-7"));
    assert_eq!(inside["attempt"], json!(2));
    assert_eq!(inside["ratio"], json!(0.5));
    assert_eq!(inside["admin"], json!(true));
    assert_eq!(inside["delta"], json!(-3));
    assert_eq!(inside["initial"], json!("é"));
}

#[test]
fn values_are_escaped_and_round_trip() {
    let nasty = "quote \" backslash \\ newline \n tab \t nul \0 bell \u{7} esc \u{1b}[31m \
                 accents é ü, CJK 漢字, emoji 🦀, line separator \u{2028} end";
    let lines = log_json(all_vars().json(), || {
        let _id = REQUEST_ID.set(nasty.into());
        tracing::info!("nasty");
    });
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["request_id"].as_str(), Some(nasty));
}

#[test]
fn nesting_puts_the_variables_under_one_key_only_when_some_are_set() {
    let lines = log_json(all_vars().nest_under("context").json(), || {
        tracing::info!("outside");
        let _id = REQUEST_ID.set("r-1".into());
        let _attempt = ATTEMPT.set(3);
        tracing::info!("inside");
    });
    assert!(lines[0].get("context").is_none(), "{:?}", lines[0]);
    assert_eq!(
        lines[1]["context"],
        json!({"request_id": "r-1", "attempt": 3})
    );
    assert!(lines[1].get("request_id").is_none());
}

#[test]
fn tracing_subscriber_s_json_options_are_kept() {
    let format = all_vars().json().with_format(
        tracing_subscriber::fmt::format()
            .json()
            .flatten_event(true)
            .without_time()
            .with_current_span(true),
    );
    let lines = log_json(format, || {
        let _id = REQUEST_ID.set("r-2".into());
        let span = tracing::info_span!("handler", route = "/work");
        let _entered = span.enter();
        tracing::info!(n = 5, "flat");
    });
    let line = &lines[0];
    assert_eq!(line["message"], "flat");
    assert_eq!(line["n"], 5);
    assert!(line.get("timestamp").is_none());
    assert_eq!(line["span"], json!({"name": "handler", "route": "/work"}));
    assert_eq!(line["request_id"], "r-2");
}

#[test]
fn a_panicking_display_costs_its_key_not_the_line() {
    static BROKEN: ContextVar<Broken> = ContextVar::new("broken");
    let lines = log_json(all_vars().var(&BROKEN).json(), || {
        let _broken = BROKEN.set(Broken);
        let _id = REQUEST_ID.set("r-3".into());
        tracing::info!("first");
        tracing::info!("second");
    });
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert_eq!(line["request_id"], "r-3");
        assert!(line.get("broken").is_none(), "{line:?}");
    }
}
