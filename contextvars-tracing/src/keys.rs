//! What keeps log lines honest whatever a variable is called or holds: JSON keys that never
//! collide with the wrapped format's own, and text values whose invisible characters are
//! escaped.

use std::fmt::{self, Write};

#[cfg(feature = "json")]
use crate::fields::Field;

/// The top-level keys tracing-subscriber's JSON format writes itself (`message` and the
/// event's other fields too, with `flatten_event(true)`). A variable written under one of them
/// would add a second key of that name, and most readers keep the last: a value from a
/// request could then stand in for the event's own level, target or message.
#[cfg(feature = "json")]
pub(crate) const JSON_FORMAT_KEYS: &[&str] = &[
    "timestamp",
    "level",
    "fields",
    "message",
    "target",
    "span",
    "spans",
    "filename",
    "line_number",
    "threadName",
    "threadId",
    "thread_name",
    "thread_id",
];

/// Checks the keys the chosen variables are written under in JSON lines, at top level or in
/// the object under `nest`: the same variable chosen twice is kept once; a key the format
/// writes itself, or one shared by two variables, is refused with a panic that names the
/// variable and the fix.
#[cfg(feature = "json")]
#[track_caller]
pub(crate) fn check_json_keys(fields: &mut Vec<Field>, nest: Option<&str>) {
    if let Some(nest) = nest {
        assert!(
            !JSON_FORMAT_KEYS.contains(&nest),
            "`nest_under(\"{nest}\")`: the JSON format writes its own `{nest}` key; \
             put the context variables under another key, such as \"context\""
        );
    }
    let mut i = 0;
    while i < fields.len() {
        let (before, rest) = fields.split_at(i);
        let field = &rest[0];
        if let Some(other) = before.iter().find(|other| other.name == field.name) {
            if other.var_name == field.var_name {
                fields.remove(i);
                continue;
            }
            panic!(
                "context variables `{}` and `{}` would both be written as the JSON key `{}`: \
                 give one of them another key with `var_named`",
                other.var_name, field.var_name, field.name
            );
        }
        assert!(
            nest.is_some() || !JSON_FORMAT_KEYS.contains(&&*field.name),
            "context variable `{}` would be written as the JSON key `{}`, which the JSON format \
             writes itself: give it another key with `var_named(\"...\", &{})`, put the \
             variables under one key with `nest_under(\"context\")`, or leave it out with `skip`",
            field.var_name,
            field.name,
            field.var_name
        );
        i += 1;
    }
}

/// Whether `c` is invisible or reorders text when shown: the bidirectional controls and every
/// other character of Unicode's format category (Cf), such as zero-width spaces and joiners,
/// the byte order mark and the tag characters. A log value holding one can make a line read
/// differently from what it says, so text lines write such values quoted and escaped.
pub(crate) fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Writes `text` quoted, as Rust's `Debug` writes a string, with every invisible format
/// character as a `\u{…}` escape.
pub(crate) fn write_quoted(out: &mut dyn Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in text.chars() {
        match c {
            '\'' => out.write_char(c)?,
            c if is_invisible_format(c) => write!(out, "\\u{{{:x}}}", u32::from(c))?,
            c => write!(out, "{}", c.escape_debug())?,
        }
    }
    out.write_char('"')
}
