//! Variables as keys of a JSON object, written with `serde_json`.

use std::fmt::{self, Write};
use std::io;

use crate::fields::{Selection, Value, render};

/// Writes `,"name":value` for every chosen variable bound in the current context (no comma
/// before the first one when `first` is set), or all of them as one `,"nest":{…}` member.
pub(crate) fn write_fields(
    selection: &Selection,
    out: &mut dyn Write,
    mut first: bool,
) -> fmt::Result {
    let nest = selection.nest.as_deref();
    let mut result = Ok(());
    let mut opened = false;
    selection.for_each(|field, value| {
        if result.is_err() {
            return;
        }
        let rendered;
        let value = match value {
            Value::Display(v) => match render(v) {
                Some(text) => {
                    rendered = text;
                    Value::Str(&rendered)
                }
                None => return,
            },
            value => value,
        };
        result = (|| {
            if let (Some(nest), false) = (nest, opened) {
                if !first {
                    out.write_char(',')?;
                }
                write_json(out, &nest)?;
                out.write_str(":{")?;
                opened = true;
                first = true;
            }
            if !first {
                out.write_char(',')?;
            }
            first = false;
            write_str(out, &field.name)?;
            out.write_char(':')?;
            match value {
                Value::Str(v) => write_str(out, v),
                Value::U64(v) => write_json(out, &v),
                Value::I64(v) => write_json(out, &v),
                Value::U128(v) => write_json(out, &v),
                Value::I128(v) => write_json(out, &v),
                Value::F64(v) => write_json(out, &v),
                Value::Bool(v) => write_json(out, &v),
                Value::Display(v) => write_json(out, &v.to_string()),
            }
        })();
    });
    if opened && result.is_ok() {
        out.write_char('}')?;
    }
    result
}

/// A JSON string; most values (ids, names) need no escaping and are written as they are.
fn write_str(out: &mut dyn Write, text: &str) -> fmt::Result {
    if text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        return write_json(out, text);
    }
    out.write_char('"')?;
    out.write_str(text)?;
    out.write_char('"')
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> fmt::Result {
    serde_json::to_writer(FmtToIo(out), value).map_err(|_| fmt::Error)
}

/// `serde_json` writes to an `io::Write`; the formatter's line is a `fmt::Write`. It
/// writes whole UTF-8 sequences (escapes are ASCII and split nothing else).
struct FmtToIo<'a>(&'a mut dyn Write);

impl io::Write for FmtToIo<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let text = std::str::from_utf8(bytes).map_err(io::Error::other)?;
        self.0.write_str(text).map_err(io::Error::other)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
