//! Variables as ` name=value` at the end of a text line.

use std::fmt::{self, Write};

use crate::fields::{Selection, Value, render};

/// Writes ` name=value` for every chosen variable bound in the current context, the name in
/// italics and the `=` dimmed when `ansi` is on, as tracing-subscriber writes event fields.
pub(crate) fn write_fields(selection: &Selection, out: &mut dyn Write, ansi: bool) -> fmt::Result {
    let mut result = Ok(());
    selection.for_each(|field, value| {
        if result.is_ok() {
            result = write_field(out, &field.name, value, ansi);
        }
    });
    result
}

fn write_field(out: &mut dyn Write, name: &str, value: Value<'_>, ansi: bool) -> fmt::Result {
    let rendered;
    let value: &dyn fmt::Display = match &value {
        Value::Str(v) => v,
        Value::U64(v) => v,
        Value::I64(v) => v,
        Value::U128(v) => v,
        Value::I128(v) => v,
        Value::F64(v) => v,
        Value::Bool(v) => v,
        Value::Display(v) => match render(*v) {
            Some(text) => {
                rendered = text;
                &rendered
            }
            None => return Ok(()),
        },
    };
    if ansi {
        write!(out, " \x1b[3m{name}\x1b[0m\x1b[2m=\x1b[0m{value}")
    } else {
        write!(out, " {name}={value}")
    }
}
