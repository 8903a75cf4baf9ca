//! Inbound: the propagated variables from a request's `baggage` header(s), as the layer trusts
//! them.

use contextvars::baggage::{self, Accept, Baggage, Skipped};
use http::HeaderMap;
use http::header::HeaderName;

pub(crate) const HEADER: HeaderName = HeaderName::from_static(baggage::HEADER);

pub(crate) fn log_skipped(skipped: &Skipped) {
    tracing::debug!(target: "contextvars::baggage", "skipped: {skipped}");
}

/// The request's baggage as one header value: repeated headers are one comma-separated list.
/// At most one byte past the limit is copied, so an oversized list costs bounded work and is
/// still reported as too large.
pub(crate) fn joined(headers: &HeaderMap) -> Option<std::borrow::Cow<'_, [u8]>> {
    let mut values = headers.get_all(HEADER).into_iter();
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(first.as_bytes().into());
    };
    let mut all = first.as_bytes().to_vec();
    for value in std::iter::once(second).chain(values) {
        if all.len() > baggage::MAX_BYTES {
            break;
        }
        all.push(b',');
        all.extend_from_slice(value.as_bytes());
    }
    all.truncate(baggage::MAX_BYTES + 1);
    Some(all.into())
}

/// Binds the variables `accept` believes from the request's baggage, in the current context
/// (the request's).
pub(crate) fn apply(headers: &HeaderMap, accept: &Accept) {
    if let Some(header) = joined(headers) {
        Baggage::from_header(&header, log_skipped).apply(accept, log_skipped);
    }
}
