//! The header's wire form: percent-encoding, members within the limits, members read one by
//! one with bounded work.

use std::fmt;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode, utf8_percent_encode};

use super::{MAX_BYTES, MAX_MEMBERS, SkipReason, Skipped, skipped};
use crate::propagate;

/// Everything that is not a `baggage-octet`, and `=` and `+`, which some readers take for a
/// separator and a space.
pub(super) const VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%')
    .add(b'=')
    .add(b'+');

/// Percent-encodes what is written through it as a baggage value.
pub(super) struct Encoder<'a>(pub(super) &'a mut String);

impl fmt::Write for Encoder<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.extend(utf8_percent_encode(text, VALUE));
        Ok(())
    }
}

/// What [`push_ours`] did with a member.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Pushed {
    Written,
    /// The variable is not bound: there is no member.
    Unbound,
    /// The member would break a limit: it was left out.
    TooLarge,
}

/// Appends `key=` and the value `write` writes (already encoded), unless `write` writes none
/// or the member would break a limit: then `out` is left as it was.
pub(super) fn push_ours(
    out: &mut String,
    count: &mut usize,
    key: &str,
    write: impl FnOnce(&mut String) -> bool,
) -> Pushed {
    let start = out.len();
    if *count > 0 {
        out.push(',');
    }
    out.push_str(key);
    out.push('=');
    let pushed = if !write(out) {
        Pushed::Unbound
    } else if out.len() <= MAX_BYTES && *count < MAX_MEMBERS {
        *count += 1;
        return Pushed::Written;
    } else {
        Pushed::TooLarge
    };
    out.truncate(start);
    pushed
}

/// Appends the members of `existing` whose keys are not `owned`, as they are, while the
/// limits allow. A key is owned when it, or its percent-decoded form (some readers decode
/// keys), is one `owned` says is: such a member is never copied, whether or not its variable
/// was written. Only members that lie within the first 8,192 bytes of `existing` are
/// considered, so a member cut by a caller's bounded copy is never sent cut.
pub(super) fn append_foreign(
    out: &mut String,
    mut count: usize,
    existing: Option<&[u8]>,
    owned: impl Fn(&[u8]) -> bool,
) {
    let Some(existing) = existing else {
        return;
    };
    let mut offset = 0;
    for member in existing.split(|&b| b == b',') {
        offset += member.len() + 1;
        if offset - 1 > MAX_BYTES {
            break;
        }
        let member = trim(member);
        let key = trim(member.split(|&b| b == b'=').next().unwrap_or_default());
        let key = trim(key.split(|&b| b == b';').next().unwrap_or_default());
        if member.is_empty()
            || !member
                .iter()
                .all(|&b| (0x20..0x7f).contains(&b) || b == b'\t')
            || owned(key)
            || (key.contains(&b'%') && owned(&percent_decode(key).collect::<Vec<u8>>()))
        {
            continue;
        }
        let Ok(member) = std::str::from_utf8(member) else {
            continue;
        };
        let extra = member.len() + usize::from(count > 0);
        if count == MAX_MEMBERS || out.len() + extra > MAX_BYTES {
            break;
        }
        if count > 0 {
            out.push(',');
        }
        out.push_str(member);
        count += 1;
    }
}

fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Calls `f(key, raw value, on_skip)` for each well-formed member of `header` within the
/// limits, and `on_skip` for each malformed one and once for whatever lies beyond the limits.
/// The work is bounded by the limits, whatever the header's length.
pub(super) fn for_each_member(
    header: &[u8],
    on_skip: &mut dyn FnMut(&Skipped),
    mut f: impl FnMut(&[u8], &[u8], &mut dyn FnMut(&Skipped)),
) {
    let mut rest = header;
    let mut count = 0;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b',');
        let member_end = end.unwrap_or(rest.len());
        let offset = header.len() - rest.len();
        if count == MAX_MEMBERS || offset + member_end > MAX_BYTES {
            on_skip(&Skipped {
                key: None,
                reason: SkipReason::TooLarge(rest.len()),
            });
            return;
        }
        let member = &rest[..member_end];
        rest = end.map_or(&[][..], |end| &rest[end + 1..]);
        count += 1;
        let member = trim(member);
        if member.is_empty() {
            continue;
        }
        let pair = member.split(|&b| b == b';').next().unwrap_or_default();
        let Some(eq) = pair.iter().position(|&b| b == b'=') else {
            on_skip(&skipped(pair, SkipReason::Malformed));
            continue;
        };
        let key = trim(&pair[..eq]);
        let value = trim(&pair[eq + 1..]);
        if !std::str::from_utf8(key).is_ok_and(propagate::is_token) {
            on_skip(&skipped(key, SkipReason::Malformed));
            continue;
        }
        f(key, value, on_skip);
    }
}
