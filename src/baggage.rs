//! The propagated variables as a [W3C Baggage](https://www.w3.org/TR/baggage/) header, and in
//! any carrier of string metadata, such as a job queue's.
//!
//! Only the variables declared `propagate` (or registered with
//! [`Propagated::register`](crate::propagate::Propagated::register)) are written or read;
//! nothing else ever leaves the process.
//!
//! # Trust
//!
//! Baggage that arrives from outside is written by whoever sent it: a client that sends
//! `tenant=acme` must not become acme. Reading therefore takes an [`Accept`] that names the
//! keys this receiver believes, and [`Accept::none`] is the default: a public edge takes
//! nothing from its clients' baggage, an internal service takes what its gateway sends.
//!
//! # Format
//!
//! A header is `key=value` members separated by commas, values percent-encoded UTF-8;
//! whitespace around members, keys and values is ignored, and so are properties (`;p=x`) after
//! a value. `+` is a plus sign, never a space. A `%` that is not followed by two hex digits is
//! read as itself, as OpenTelemetry's own propagator writes it. At most 64 members and 8,192
//! bytes are written or read: members beyond are dropped whole, never cut.
//!
//! # Outgoing headers: a propagated key belongs to its variable
//!
//! Every way out ([`inject`], [`current_header`], [`Baggage::merge_into`], and through them
//! contextvars-tower's `PropagateLayer` and contextvars-opentelemetry's propagator) writes the
//! header with the same rule. The member under a propagated variable's key is this context's
//! own value of that variable, or there is none: a member under that key forwarded from
//! elsewhere (a client's header that a gateway passes on, OpenTelemetry's own baggage) is
//! dropped when the variable is unbound and replaced when it is bound. Members under other
//! keys are kept, after the propagated ones, in the space the limits leave.
//!
//! When the propagated members do not all fit in 64 members and 8,192 bytes, the smallest go
//! first (by length of `key=value` as encoded, then by key): each member is written if it still
//! fits, and one that does not is left out and reported (at DEBUG, with its key, through the
//! `log` crate's `contextvars::baggage` target, or to the `on_drop` callback of
//! [`current_header_with`]). The space a left-out member would have taken is never given to a
//! forwarded member under its key.
//!
//! ```
//! use std::collections::HashMap;
//!
//! use contextvars::ContextVar;
//! use contextvars::baggage::{self, Accept};
//! use contextvars::propagate::Propagated;
//!
//! // With the facade: `#[context_var(default = String::from("none"), propagate)]`.
//! static TENANT: ContextVar<String> = ContextVar::with_default("TENANT", || "none".to_owned());
//! Propagated::new(&TENANT).register();
//!
//! // Producer: inside the request, put the propagated variables in the job's metadata.
//! let mut metadata = HashMap::new();
//! TENANT.scope("acme".to_owned(), || baggage::inject(&mut metadata));
//! assert_eq!(metadata["baggage"], "TENANT=acme");
//!
//! // Consumer: a fresh context with what the producer sent, for the job to run in.
//! let mut job_context = baggage::extract(&metadata, &Accept::all());
//! assert_eq!(job_context.run(|| TENANT.get()), "acme");
//! assert_eq!(TENANT.get(), "none");
//! ```

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use percent_encoding::{percent_decode, utf8_percent_encode};

use crate::Context;
use crate::propagate::{self, PropagatedVar};

mod accept;
mod skipped;
mod wire;

pub use accept::Accept;
pub use skipped::{SkipReason, Skipped};

use skipped::skipped;
use wire::{Encoder, Pushed, VALUE, append_foreign, for_each_member, push_ours};

/// The header, and the carrier key, that baggage travels under.
pub const HEADER: &str = "baggage";

/// The most members written, and read, in one header.
pub const MAX_MEMBERS: usize = 64;

/// The most bytes written, and read, in one header.
pub const MAX_BYTES: usize = 8192;

/// The propagated variables' values as text, by key: what travels.
///
/// Made from the current context ([`Baggage::current`]) or from a header
/// ([`Baggage::from_header`]); written as a header ([`Baggage::to_header`],
/// [`Baggage::merge_into`]); bound in a context ([`Baggage::apply`], [`Baggage::to_context`]).
/// With feature `serde` it is serialized as a map of keys to values, to embed in a job payload.
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(from = "BTreeMap<String, String>", into = "BTreeMap<String, String>")
)]
pub struct Baggage {
    members: Vec<(&'static dyn PropagatedVar, String)>,
}

// `dyn PropagatedVar` has no `PartialEq`; two members are equal when they are for the same key.
impl PartialEq for Baggage {
    fn eq(&self, other: &Self) -> bool {
        self.members.len() == other.members.len()
            && self
                .members
                .iter()
                .zip(&other.members)
                .all(|((a, x), (b, y))| a.key() == b.key() && x == y)
    }
}

impl Eq for Baggage {}

impl Baggage {
    /// The values the current context binds to propagated variables (defaults are not sent: the
    /// receiver has its own).
    #[must_use]
    pub fn current() -> Baggage {
        let mut members = Vec::new();
        for var in propagate::all() {
            let mut text = String::new();
            if var.write_bound(&mut text) {
                members.push((var, text));
            }
        }
        Baggage { members }
    }

    /// The members of `header` whose keys are propagated variables; `on_skip` is told about
    /// each member that was not usable. Members with other keys are left alone, silently.
    pub fn from_header(header: &[u8], mut on_skip: impl FnMut(&Skipped)) -> Baggage {
        let table = propagate::all();
        let mut members: Vec<(&'static dyn PropagatedVar, String)> = Vec::new();
        let mut unusable: Vec<&'static str> = Vec::new();
        for_each_member(header, &mut on_skip, |key, value, on_skip| {
            let Some(var) = table.clone().find(|var| var.key().as_bytes() == key) else {
                return;
            };
            // A key seen before, even with a value that was not usable, is a duplicate: a
            // second member never replaces a first one.
            if members.iter().any(|(have, _)| have.key() == var.key())
                || unusable.contains(&var.key())
            {
                on_skip(&skipped(key, SkipReason::Duplicate));
                return;
            }
            if let Ok(text) = percent_decode(value).decode_utf8() {
                members.push((var, text.into_owned()));
            } else {
                unusable.push(var.key());
                on_skip(&skipped(key, SkipReason::InvalidEncoding));
            }
        });
        Baggage { members }
    }

    /// How many variables the baggage carries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether it carries none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The text carried for `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|(var, _)| var.key() == key)
            .map(|(_, text)| text.as_str())
    }

    /// The keys and texts carried.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.members
            .iter()
            .map(|(var, text)| (var.key(), text.as_str()))
    }

    /// The header value for these members alone, within the limits.
    #[must_use]
    pub fn to_header(&self) -> String {
        self.merge_into(None)
    }

    /// The header value for these members followed by the members of `existing` (another
    /// library's baggage) whose keys are not propagated variables' keys, within the limits: at
    /// most 64 members and 8,192 bytes, members beyond dropped whole. Foreign members are copied
    /// as they are; one under a propagated key is never copied (see
    /// [the rule](self#outgoing-headers-a-propagated-key-belongs-to-its-variable)).
    #[must_use]
    pub fn merge_into(&self, existing: Option<&[u8]>) -> String {
        merged(
            self.members.iter(),
            |(var, _)| var.key(),
            |(_, text), out| {
                out.extend(utf8_percent_encode(text, VALUE));
                true
            },
            existing,
            &mut log_not_sent,
        )
    }

    /// Binds the carried values of the keys `accept` believes in the current context; returns
    /// how many. `on_skip` is told about each value that was not bound: not accepted, or not
    /// valid for its variable's type (the variable keeps its value).
    pub fn apply(&self, accept: &Accept, mut on_skip: impl FnMut(&Skipped)) -> usize {
        let mut count = 0;
        for (var, text) in &self.members {
            if !accept.accepts(var.key()) {
                on_skip(&skipped(var.key().as_bytes(), SkipReason::NotAccepted));
                continue;
            }
            match var.set_from_text(text) {
                Ok(()) => count += 1,
                Err(_) => on_skip(&skipped(var.key().as_bytes(), SkipReason::InvalidValue)),
            }
        }
        count
    }

    /// A new, empty context with the carried values of the keys `accept` believes: where a job
    /// runs on the consumer's side.
    #[must_use]
    pub fn to_context(&self, accept: &Accept) -> Context {
        let mut context = Context::new();
        context.run(|| self.apply(accept, |_| {}));
        context
    }
}

impl From<BTreeMap<String, String>> for Baggage {
    /// Keeps the entries whose keys are propagated variables.
    fn from(map: BTreeMap<String, String>) -> Baggage {
        let members = map
            .into_iter()
            .filter_map(|(key, text)| Some((propagate::by_key(&key)?, text)))
            .collect();
        Baggage { members }
    }
}

impl From<Baggage> for BTreeMap<String, String> {
    fn from(baggage: Baggage) -> BTreeMap<String, String> {
        baggage
            .members
            .into_iter()
            .map(|(var, text)| (var.key().to_owned(), text))
            .collect()
    }
}

/// The header value for the propagated variables the current context binds, followed by the
/// members of `existing` (another library's baggage, or a forwarded header) whose keys are not
/// propagated variables' keys, within the limits: what [`Baggage::current`] then
/// [`Baggage::merge_into`] give, written in one pass. Members left out for size are logged at
/// DEBUG (see [the rule](self#outgoing-headers-a-propagated-key-belongs-to-its-variable)).
#[must_use]
pub fn current_header(existing: Option<&[u8]>) -> String {
    current_header_with(existing, log_not_sent)
}

/// [`current_header`], telling `on_drop` about each propagated member left out for size
/// (reason [`SkipReason::NotSent`]) instead of logging it: for integrations that log their own
/// way.
///
/// ```
/// use contextvars::ContextVar;
/// use contextvars::baggage;
/// use contextvars::propagate::Propagated;
///
/// static TENANT: ContextVar<String> = ContextVar::new("tenant");
/// Propagated::new(&TENANT).register();
///
/// // A forwarded header's `tenant` never goes out: not while TENANT is unbound...
/// let forwarded = b"tenant=victim,vendor=1";
/// assert_eq!(baggage::current_header_with(Some(forwarded), |_| {}), "vendor=1");
/// // ...and not in place of TENANT's own member when that is too large to send.
/// let mut dropped = Vec::new();
/// TENANT.scope("x".repeat(9000), || {
///     let header = baggage::current_header_with(Some(forwarded), |skipped| {
///         dropped.push(skipped.key.clone());
///     });
///     assert_eq!(header, "vendor=1");
/// });
/// assert_eq!(dropped, [Some("tenant".to_owned())]);
/// ```
pub fn current_header_with(existing: Option<&[u8]>, mut on_drop: impl FnMut(&Skipped)) -> String {
    merged(
        propagate::all(),
        |var| var.key(),
        |var, out| var.write_bound(&mut Encoder(out)),
        existing,
        &mut on_drop,
    )
}

/// The one writer of outgoing headers: the `own` members (`key(member)`, and
/// `write(member, out)`, which appends the encoded value and says whether there is one), then
/// the members of `existing` whose keys no propagated variable owns, within the limits.
fn merged<M>(
    own: impl Iterator<Item = M> + Clone,
    key: impl Fn(&M) -> &'static str,
    write: impl Fn(&M, &mut String) -> bool,
    existing: Option<&[u8]>,
    on_drop: &mut dyn FnMut(&Skipped),
) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut all_fit = true;
    for member in own.clone() {
        if push_ours(&mut out, &mut count, key(&member), |out| {
            write(&member, out)
        }) == Pushed::TooLarge
        {
            all_fit = false;
            break;
        }
    }
    if !all_fit {
        // Rare: the smallest first, so that one oversized value costs itself, not the others.
        out.clear();
        count = 0;
        let mut members: Vec<(&'static str, String)> = own
            .filter_map(|member| {
                let mut text = String::new();
                write(&member, &mut text).then(|| (key(&member), text))
            })
            .collect();
        members.sort_by(|(a, a_text), (b, b_text)| {
            (a.len() + a_text.len(), a).cmp(&(b.len() + b_text.len(), b))
        });
        for (key, text) in members {
            let pushed = push_ours(&mut out, &mut count, key, |out| {
                out.push_str(&text);
                true
            });
            if pushed == Pushed::TooLarge {
                on_drop(&Skipped {
                    key: Some(key.to_owned()),
                    reason: SkipReason::NotSent,
                });
            }
        }
    }
    if existing.is_some() {
        let owned: Vec<&'static str> = propagate::all().map(PropagatedVar::key).collect();
        append_foreign(&mut out, count, existing, |key| {
            owned.iter().any(|owned| owned.as_bytes() == key)
        });
    }
    out
}

fn log_not_sent(skipped: &Skipped) {
    log::debug!(target: "contextvars::baggage", "{skipped}");
}

/// Appends the member `key=value` to a header being written, with `value` percent-encoded as a
/// baggage value, and a comma first when `out` is not empty: for writing another library's
/// members next to the propagated variables (see [`Baggage::merge_into`]).
pub fn push_member(out: &mut String, key: &str, value: &str) {
    if !out.is_empty() {
        out.push(',');
    }
    out.extend(utf8_percent_encode(key, VALUE));
    out.push('=');
    out.extend(utf8_percent_encode(value, VALUE));
}

/// A carrier of string metadata that baggage can be written to and read from, such as a job's
/// headers.
pub trait Carrier {
    /// The value stored under `key`.
    fn get(&self, key: &str) -> Option<&str>;

    /// Stores `value` under `key`, replacing what was there.
    fn set(&mut self, key: &str, value: String);
}

impl<S: BuildHasher> Carrier for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }

    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

impl Carrier for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).map(String::as_str)
    }

    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

/// Writes the current context's propagated variables into `carrier` under `baggage`, keeping
/// the members another library already wrote there under other keys (see
/// [the rule](self#outgoing-headers-a-propagated-key-belongs-to-its-variable)). Writes nothing
/// when no propagated variable is bound and the carrier has no baggage.
pub fn inject(carrier: &mut impl Carrier) {
    let existing = carrier.get(HEADER).map(str::as_bytes);
    let header = current_header(existing);
    if !header.is_empty() || existing.is_some() {
        carrier.set(HEADER, header);
    }
}

/// A new, empty context with the propagated variables that `carrier`'s baggage carries and
/// `accept` believes; bad members are skipped. Run the job in it with
/// [`Context::run`] or [`Context::run_future`].
#[must_use]
pub fn extract(carrier: &impl Carrier, accept: &Accept) -> Context {
    match carrier.get(HEADER) {
        Some(header) if !accept.is_none() => {
            Baggage::from_header(header.as_bytes(), |_| {}).to_context(accept)
        }
        _ => Context::new(),
    }
}
