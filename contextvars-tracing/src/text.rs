//! Variables as ` name=value` at the end of a text line.

use std::fmt::{self, Write};

use crate::fields::{Selection, Value, render};
use crate::keys;

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
    let text = match value {
        Value::Str(text) => Some(text),
        Value::Display(value) => {
            // A panicking `Display` costs this field only.
            let Some(text) = render(value) else {
                return Ok(());
            };
            rendered = text;
            Some(rendered.as_str())
        }
        _ => None,
    };
    if ansi {
        out.write_str(" \x1b[3m")?;
        out.write_str(name)?;
        out.write_str("\x1b[0m\x1b[2m=\x1b[0m")?;
    } else {
        out.write_char(' ')?;
        out.write_str(name)?;
        out.write_char('=')?;
    }
    match (text, value) {
        (Some(text), _) if needs_quotes(text) => keys::write_quoted(out, text),
        (Some(text), _) => out.write_str(text),
        (None, Value::U64(v)) => write_integer(out, false, v),
        (None, Value::I64(v)) => write_integer(out, v < 0, v.unsigned_abs()),
        (None, Value::U128(v)) => write!(out, "{v}"),
        (None, Value::I128(v)) => write!(out, "{v}"),
        (None, Value::F64(v)) => write!(out, "{v}"),
        (None, Value::Bool(v)) => write!(out, "{v}"),
        (None, Value::Str(_) | Value::Display(_)) => Ok(()),
    }
}

/// Whether `text` must be quoted and escaped to stay one field on one line: a value with a
/// space, a quote, an `=`, a control character (a newline or an ANSI escape from a request
/// header would otherwise forge or colour log lines) or an invisible format character (a
/// right-to-left override would make the line read differently from what it says).
fn needs_quotes(text: &str) -> bool {
    // The common case, ASCII, byte by byte: a space or another control, a quote, an `=`.
    if text.is_ascii() {
        return text.is_empty()
            || text
                .bytes()
                .any(|b| b <= b' ' || b == 0x7f || b == b'"' || b == b'=');
    }
    text.chars().any(|c| {
        c.is_whitespace() || c.is_control() || c == '"' || c == '=' || keys::is_invisible_format(c)
    })
}

/// Writes an integer in decimal without the formatting machinery: the common field type.
fn write_integer(out: &mut dyn Write, negative: bool, mut magnitude: u64) -> fmt::Result {
    let mut digits = [0_u8; 21];
    let mut start = digits.len();
    loop {
        start -= 1;
        // `magnitude % 10` is a digit: the cast cannot truncate.
        digits[start] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if negative {
        start -= 1;
        digits[start] = b'-';
    }
    out.write_str(std::str::from_utf8(&digits[start..]).map_err(|_| fmt::Error)?)
}

#[cfg(test)]
mod tests {
    use super::write_integer;

    #[test]
    fn integers_are_written_as_display_writes_them() {
        for (negative, magnitude, expected) in [
            (false, 0, "0".to_owned()),
            (false, 42, "42".to_owned()),
            (false, u64::MAX, u64::MAX.to_string()),
            (true, 7, "-7".to_owned()),
            (true, i64::MIN.unsigned_abs(), i64::MIN.to_string()),
        ] {
            let mut out = String::new();
            write_integer(&mut out, negative, magnitude).unwrap();
            assert_eq!(out, expected);
        }
    }
}
