//! What happened to a member of baggage that was not used or not sent, for logs and callbacks.

use std::fmt;

use super::{MAX_BYTES, MAX_MEMBERS};

/// A member of incoming baggage that was not used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The member's key, when it had a readable one (at most 64 bytes of it).
    pub key: Option<String>,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// Why a member of incoming baggage was not used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// No `=`, an empty key, or a key that is not a token.
    Malformed,
    /// The value is not valid percent-encoded UTF-8.
    InvalidEncoding,
    /// A second member with the key of an earlier one.
    Duplicate,
    /// The value does not parse as the variable's type.
    InvalidValue,
    /// Beyond the first 64 members or 8,192 bytes; the key is `None` and the count is how many
    /// bytes were not read.
    TooLarge(usize),
    /// Outgoing: the member of a propagated variable that was left out because the header
    /// would pass 64 members or 8,192 bytes with it (see [the rule](super#outgoing-headers-a-propagated-key-belongs-to-its-variable)).
    NotSent,
    /// The receiver does not believe this key (see [`Accept`](super::Accept)).
    NotAccepted,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.key.as_deref().unwrap_or("?");
        match &self.reason {
            SkipReason::Malformed => write!(f, "baggage member `{key}` is malformed"),
            SkipReason::InvalidEncoding => {
                write!(f, "baggage member `{key}` is not percent-encoded UTF-8")
            }
            SkipReason::Duplicate => write!(f, "baggage member `{key}` is a duplicate"),
            SkipReason::InvalidValue => {
                write!(
                    f,
                    "baggage member `{key}` is not a valid value of its variable"
                )
            }
            SkipReason::TooLarge(bytes) => write!(
                f,
                "baggage beyond {MAX_MEMBERS} members or {MAX_BYTES} bytes: {bytes} bytes not read"
            ),
            SkipReason::NotAccepted => write!(f, "baggage member `{key}` is not accepted here"),
            SkipReason::NotSent => write!(
                f,
                "baggage member `{key}` not sent: the header would pass {MAX_MEMBERS} members or {MAX_BYTES} bytes"
            ),
        }
    }
}

pub(super) fn skipped(key: &[u8], reason: SkipReason) -> Skipped {
    let key = &key[..key.len().min(64)];
    Skipped {
        key: Some(String::from_utf8_lossy(key).into_owned()),
        reason,
    }
}
