//! Log lines that a variable's name or a request's value cannot forge: JSON keys the format
//! writes itself are refused, every JSON line has unique keys, and text values with invisible
//! or reordering characters are escaped.

mod common;

use std::collections::HashSet;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use common::Buffer;
use contextvars::ContextVar;
use contextvars_tracing::ContextFields;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

static LEVEL: ContextVar<String> = ContextVar::new("LEVEL");
static TARGET: ContextVar<String> = ContextVar::new("target");
static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static OTHER_ID: ContextVar<String> = ContextVar::new("other_id");

/// The panic message of building a format, if it panicked.
fn refusal(build: impl FnOnce()) -> String {
    let panic = catch_unwind(AssertUnwindSafe(build)).expect_err("the format was built");
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap()
}

#[test]
fn a_variable_under_a_key_the_json_format_writes_is_refused_with_the_fix() {
    let message = refusal(|| drop(ContextFields::new().var(&LEVEL).json()));
    assert!(message.contains("`LEVEL`"), "{message}");
    assert!(message.contains("`level`"), "{message}");
    assert!(message.contains("var_named"), "{message}");
    assert!(message.contains("nest_under"), "{message}");

    for key in [
        "timestamp",
        "fields",
        "message",
        "span",
        "spans",
        "threadId",
    ] {
        let message = refusal(|| drop(ContextFields::new().json().var_named(key, &REQUEST_ID)));
        assert!(message.contains(&format!("`{key}`")), "{message}");
        assert!(message.contains("`request_id`"), "{message}");
    }
    let message = refusal(|| drop(ContextFields::new().json().var(&TARGET)));
    assert!(message.contains("`target`"), "{message}");
}

#[test]
fn nesting_under_a_key_the_json_format_writes_is_refused() {
    let message = refusal(|| drop(ContextFields::new().nest_under("fields").json()));
    assert!(message.contains("nest_under(\"fields\")"), "{message}");
    let message = refusal(|| drop(ContextFields::new().json().nest_under("level")));
    assert!(message.contains("`level`"), "{message}");
}

#[test]
fn two_variables_under_one_key_are_refused_and_one_chosen_twice_is_written_once() {
    let message = refusal(|| {
        drop(
            ContextFields::new()
                .json()
                .var(&REQUEST_ID)
                .var_named("request_id", &OTHER_ID),
        );
    });
    assert!(message.contains("`request_id` and `other_id`"), "{message}");
    // Text lines keep whatever names were chosen: only JSON keys must be unique.
    drop(ContextFields::new().var(&LEVEL).var(&TARGET));
}

/// A JSON value whose objects, at every depth, have unique keys.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeys)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
}

fn log_json(
    format: ContextFields<
        tracing_subscriber::fmt::format::Format<
            tracing_subscriber::fmt::format::Json,
            tracing_subscriber::fmt::time::SystemTime,
        >,
    >,
) -> Vec<String> {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .event_format(format)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let _level = LEVEL.set("ERROR".into());
        let _target = TARGET.set("forged".into());
        let _id = REQUEST_ID.set("req-1".into());
        let span = tracing::info_span!("request", n = 1);
        let _entered = span.enter();
        tracing::info!(target: "app", "hello");
    });
    buffer.lines()
}

#[test]
fn every_json_line_has_unique_keys_and_the_event_s_own_level_and_target() {
    let formats = [
        // Renamed, and one variable chosen twice.
        ContextFields::new()
            .json()
            .var_named("client_level", &LEVEL)
            .var_named("client_target", &TARGET)
            .var(&REQUEST_ID)
            .var(&REQUEST_ID),
        // Nested: inside the object, the variables' own names are free.
        ContextFields::new()
            .var(&LEVEL)
            .var(&TARGET)
            .var(&REQUEST_ID)
            .nest_under("context")
            .json(),
    ];
    for format in formats {
        let lines = log_json(format);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        serde_json::from_str::<UniqueKeys>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["level"], "INFO", "{line}");
        assert_eq!(value["target"], "app", "{line}");
        assert_eq!(value["fields"]["message"], "hello", "{line}");
        assert!(value["timestamp"].is_string(), "{line}");
        assert!(line.contains("req-1"), "{line}");
    }
}

#[test]
fn invisible_and_reordering_characters_in_text_values_are_escaped() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .event_format(
            ContextFields::new()
                .var(&REQUEST_ID)
                .with_format(tracing_subscriber::fmt::format().without_time()),
        )
        .with_writer(move || writer.clone())
        .finish();
    let values = [
        "admin\u{202E}txt.exe",
        "a\u{2066}b\u{2069}",
        "zero\u{200B}width",
        "\u{FEFF}bom",
        "join\u{200D}er",
        "mark\u{200F}",
        "arabic\u{061C}mark",
        "word\u{2060}joiner",
        "tag\u{E0041}",
    ];
    tracing::subscriber::with_default(subscriber, || {
        for value in values {
            let _id = REQUEST_ID.set(value.to_owned());
            tracing::info!("x");
        }
    });
    let lines = buffer.lines();
    assert_eq!(lines.len(), values.len());
    for (line, value) in lines.iter().zip(values) {
        let escaped = line.split(" request_id=").nth(1).unwrap();
        assert!(
            escaped.starts_with('"') && escaped.ends_with('"'),
            "{line:?}"
        );
        assert!(escaped.is_ascii(), "{value:?} written as {escaped:?}");
        assert!(escaped.contains("\\u{"), "{line:?}");
    }
}
