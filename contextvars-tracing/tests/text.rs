//! Text lines: variables at the end of the line, only where set, with the wrapped format's
//! colours.

mod common;

use std::fmt::{self, Display};

use common::{Broken, Buffer};
use contextvars::{ContextVar, module_vars};
use contextvars_tracing::ContextFields;

static ID: ContextVar<u64> = ContextVar::with_default("ID", || 0);

/// Declared variables, one module each, so each test lists exactly its own.
mod label {
    #[contextvars::context_var(default = None)]
    pub static LABEL: Option<String>;
}

mod price {
    #[contextvars::context_var(default = super::Money(0))]
    pub static PRICE: super::Money;
}

mod token {
    #[contextvars::context_var(default = String::new())]
    pub static TOKEN: String;
}

use label::LABEL;
use price::PRICE;
use token::TOKEN;

fn log_with(format: ContextFields, f: impl FnOnce()) -> Vec<String> {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .event_format(format.with_format(tracing_subscriber::fmt::format().without_time()))
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    buffer.lines()
}

#[test]
fn fields_only_where_set_and_defaults_do_not_count() {
    let lines = log_with(ContextFields::new().var(&ID), || {
        tracing::info!("before");
        let _id = ID.set(7);
        tracing::info!(answer = 42, "during");
    });
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].ends_with("before"), "{lines:?}");
    assert!(lines[1].ends_with("during answer=42 id=7"), "{lines:?}");
}

#[test]
fn multi_line_messages_keep_the_fields_on_the_last_line() {
    let lines = log_with(ContextFields::new().var_named("req", &ID), || {
        let _id = ID.set(3);
        tracing::info!("one\ntwo");
    });
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].ends_with("two req=3"), "{lines:?}");
}

#[test]
fn option_values_are_written_only_when_some() {
    let format = ContextFields::new().vars(&module_vars!(label));
    let lines = log_with(format, || {
        let _none = LABEL.set(None);
        tracing::info!("none");
        let _some = LABEL.set(Some("x".into()));
        tracing::info!("some");
    });
    assert!(lines[0].ends_with("none"), "{lines:?}");
    assert!(lines[1].ends_with("some label=x"), "{lines:?}");
}

/// A value whose type the log format does not know.
pub struct Money(u32);

impl Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}", self.0)
    }
}

#[test]
fn declared_values_of_unknown_types_are_left_out_unless_named() {
    let vars = module_vars!(price);
    let log = |format: ContextFields| {
        log_with(format, || {
            let _price = PRICE.set(Money(5));
            let _id = ID.set(1);
            tracing::info!("sold");
        })
    };
    let lines = log(ContextFields::new().vars(&vars).var(&ID));
    assert!(lines[0].ends_with("sold id=1"), "{lines:?}");
    let lines = log(ContextFields::new().vars(&vars).display_type::<Money>());
    assert!(lines[0].ends_with("sold price=$5"), "{lines:?}");
}

#[test]
fn a_secret_is_never_written_however_it_was_chosen() {
    let vars = module_vars!(token);
    for format in [
        ContextFields::new().var(&TOKEN).var(&ID).skip(&TOKEN),
        ContextFields::new().skip(&TOKEN).vars(&vars).var(&ID),
        ContextFields::new()
            .skip("TOKEN")
            .registered()
            .vars(&vars)
            .var(&ID),
    ] {
        let lines = log_with(format, || {
            let _token = TOKEN.set("hunter2".into());
            let _id = ID.set(9);
            tracing::info!("login");
        });
        assert!(lines[0].ends_with("login id=9"), "{lines:?}");
    }
}

#[test]
fn a_panicking_display_costs_its_field_not_the_line() {
    static BROKEN: ContextVar<Broken> = ContextVar::new("broken");
    let lines = log_with(ContextFields::new().var(&BROKEN).var(&ID), || {
        let _broken = BROKEN.set(Broken);
        let _id = ID.set(4);
        tracing::info!("first");
        tracing::info!("second");
    });
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].ends_with("first id=4"), "{lines:?}");
    assert!(lines[1].ends_with("second id=4"), "{lines:?}");
}

#[test]
fn coloured_lines_keep_the_wrapped_format_s_colours() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let format = ContextFields::new()
        .var(&ID)
        .with_format(tracing_subscriber::fmt::format().without_time());
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(true)
        .event_format(format)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let _id = ID.set(5);
        tracing::info!(n = 1, "coloured");
    });
    let line = buffer.text();
    // The level in green, as the unwrapped format writes it, and the variable's name in
    // italics like the event's own field.
    assert!(line.contains("\x1b[32m INFO\x1b[0m"), "{line:?}");
    assert!(line.contains("\x1b[3mn\x1b[0m\x1b[2m=\x1b[0m1"), "{line:?}");
    assert!(
        line.ends_with(" \x1b[3mid\x1b[0m\x1b[2m=\x1b[0m5\n"),
        "{line:?}"
    );
}

#[test]
fn values_that_could_forge_or_colour_a_line_are_quoted_and_escaped() {
    static NOTE: ContextVar<String> = ContextVar::new("note");
    let lines = log_with(ContextFields::new().var(&NOTE), || {
        let _note = NOTE.set("ok\nINFO forged: admin=true \u{1b}[31mred".into());
        tracing::info!("one");
        let _plain = NOTE.set("plain-value".into());
        tracing::info!("two");
    });
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].ends_with(r#"one note="ok\nINFO forged: admin=true \u{1b}[31mred""#),
        "{lines:?}"
    );
    assert!(lines[1].ends_with("two note=plain-value"), "{lines:?}");
}
