//! Baggage through the tower layers: what an edge and a backend take from a request, what a
//! client sends, and what bad headers do.

use std::convert::Infallible;

use contextvars::baggage::Accept;
use contextvars::{Context, VarSet, context_var};
use contextvars_tower::{ContextLayer, PropagateLayer};
use futures::executor::block_on;
use http::{HeaderName, HeaderValue, Request, Response};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;

#[context_var(default = String::from("none"), propagate = "tenant")]
static TENANT: String;

#[context_var(default = 0, propagate = "n")]
static NUMBER: u32;

#[context_var(default = String::from("anonymous"))]
static USER_ID: String;

type Seen = (String, u32, String);

fn serve(layer: ContextLayer, baggage: &[&[u8]]) -> Seen {
    let service = layer
        .header_var(&USER_ID, HeaderName::from_static("x-user-id"), |v| {
            v.map_or("anonymous".to_owned(), |v| v.to_str().unwrap().to_owned())
        })
        .layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new((TENANT.get(), NUMBER.get(), USER_ID.get())))
        }));
    let mut request = Request::builder().header("x-user-id", "u-1");
    for value in baggage {
        request = request.header("baggage", HeaderValue::from_bytes(value).unwrap());
    }
    let response = block_on(service.oneshot(request.body(()).unwrap())).unwrap();
    response.body().get_ref().clone()
}

fn seen(tenant: &str, n: u32) -> Seen {
    (tenant.to_owned(), n, "u-1".to_owned())
}

#[test]
fn an_edge_ignores_its_clients_baggage() {
    let layer = ContextLayer::with_base(Context::new());
    assert_eq!(serve(layer, &[b"tenant=acme,n=5"]), seen("none", 0));
}

#[test]
fn a_backend_takes_only_the_keys_it_accepts() {
    let layer = ContextLayer::with_base(Context::new()).accept_baggage(Accept::keys(["n"]));
    assert_eq!(serve(layer, &[b"tenant=acme,n=5"]), seen("none", 5));
    // The same trust named by the variable: its key is `n`, not its name.
    let layer = ContextLayer::with_base(Context::new()).accept_baggage(Accept::none().var(&NUMBER));
    assert_eq!(
        serve(layer, &[b"tenant=acme,n=5,NUMBER=6"]),
        seen("none", 5)
    );
    let layer = ContextLayer::with_base(Context::new()).accept_baggage(Accept::all());
    assert_eq!(serve(layer, &[b"tenant=acme", b"n=5"]), seen("acme", 5));
}

#[test]
fn a_header_var_is_never_overwritten_by_baggage() {
    let layer = ContextLayer::with_base(Context::new()).accept_baggage(Accept::all());
    assert_eq!(
        serve(layer, &[b"USER_ID=root,tenant=acme"]),
        seen("acme", 0)
    );
}

/// A layer that trusts baggage and resets its variables: the request's values are the same
/// whether it carries a `baggage` header or not, when the baggage names none of them.
#[test]
fn the_resets_are_the_same_with_and_without_baggage() {
    let mut base = Context::new();
    base.run(|| {
        drop(TENANT.set("from-base".to_owned()));
        drop(USER_ID.set("from-base".to_owned()));
    });
    let resets = VarSet::new(
        contextvars::registry::all()
            .filter(|r| r.is(&TENANT) || r.is(&USER_ID))
            .collect(),
    );
    let layer = || {
        ContextLayer::with_base(base.clone())
            .reset(&resets)
            .accept_baggage(Accept::all())
    };
    // The user id from its header; the tenant reset, or from the baggage.
    assert_eq!(serve(layer(), &[]), seen("none", 0));
    assert_eq!(serve(layer(), &[b"other=1"]), seen("none", 0));
    assert_eq!(serve(layer(), &[b"tenant=acme"]), seen("acme", 0));
    // No `x-user-id`: the user id reset to its default too.
    let user_without_header = |baggage: Option<&'static str>| {
        let service = layer()
            .header_var(&USER_ID, HeaderName::from_static("x-user-id"), |v| {
                v.map(|v| v.to_str().unwrap().to_owned())
            })
            .layer(service_fn(|_: Request<()>| async {
                Ok::<_, Infallible>(Response::new((TENANT.get(), USER_ID.get())))
            }));
        let mut request = Request::builder();
        if let Some(baggage) = baggage {
            request = request.header("baggage", baggage);
        }
        let response = block_on(service.oneshot(request.body(()).unwrap())).unwrap();
        response.body().get_ref().clone()
    };
    let reset = ("none".to_owned(), "anonymous".to_owned());
    assert_eq!(user_without_header(None), reset);
    assert_eq!(user_without_header(Some("other=1")), reset);
}

#[test]
fn bad_baggage_is_skipped_and_the_request_served() {
    let all = || ContextLayer::with_base(Context::new()).accept_baggage(Accept::all());
    let huge = format!("{},tenant=late", "k=v,".repeat(20_000));
    let cases: [(&[u8], Seen); 7] = [
        (b"n=notanumber,tenant=acme", seen("acme", 0)),
        (b"tenant=%FF%FE,n=3", seen("none", 3)),
        (b"tenant=\xe9t\xe9,n=3", seen("none", 3)),
        (b"tenant,=x,n==,n=4,n=5", seen("none", 0)),
        (b"tenant=a,tenant=b", seen("a", 0)),
        (huge.as_bytes(), seen("none", 0)),
        (b";;;,,,   ,=,%", seen("none", 0)),
    ];
    for (header, expected) in cases {
        assert_eq!(
            serve(all(), &[header]),
            expected,
            "{}",
            String::from_utf8_lossy(&header[..header.len().min(60)])
        );
    }
}

fn sent_baggage(existing: Option<&str>, set: bool) -> Option<String> {
    sent_with_tenant(existing, set.then(|| "acme".to_owned()))
}

fn sent_with_tenant(existing: Option<&str>, tenant: Option<String>) -> Option<String> {
    let client = PropagateLayer::new().layer(service_fn(|request: Request<()>| async move {
        let all: Vec<_> = request
            .headers()
            .get_all("baggage")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        Ok::<_, Infallible>(Response::new(all))
    }));
    let mut request = Request::builder();
    if let Some(existing) = existing {
        request = request.header("baggage", existing);
    }
    let request = request.body(()).unwrap();
    let response = Context::new().run(|| {
        let _user = USER_ID.set("ada".to_owned());
        let _tenant = tenant.map(|tenant| TENANT.set(tenant));
        block_on(client.oneshot(request)).unwrap()
    });
    let mut all = response.into_body();
    assert!(all.len() <= 1);
    all.pop()
}

#[test]
fn the_client_sends_the_propagated_variables_only() {
    assert_eq!(sent_baggage(None, true).as_deref(), Some("tenant=acme"));
    assert_eq!(sent_baggage(None, false), None);
}

#[test]
fn the_client_keeps_other_members_and_never_duplicates_its_own() {
    assert_eq!(
        sent_baggage(Some("tenant=old, session=s1;p=1"), true).as_deref(),
        Some("tenant=acme,session=s1;p=1")
    );
    assert_eq!(
        sent_baggage(Some("session=s1"), false).as_deref(),
        Some("session=s1")
    );
}

#[test]
fn a_forwarded_member_never_goes_out_under_a_propagated_key() {
    // A gateway forwarding its client's header, with TENANT unbound: the client's `tenant`
    // is dropped, its other members kept.
    assert_eq!(
        sent_with_tenant(Some("tenant=victim,vendor=v1"), None).as_deref(),
        Some("vendor=v1")
    );
    assert_eq!(sent_with_tenant(Some("tenant=victim"), None), None);
    assert_eq!(sent_with_tenant(Some(" ten%61nt = victim "), None), None);
    // TENANT bound, with a client's member big enough to push it out on main: the gateway's
    // own member goes first and the big foreign one is what is dropped.
    let big = format!("x-request-id={},tenant=victim", "r".repeat(8180));
    let sent = sent_with_tenant(Some(&big), Some("acme".to_owned())).unwrap();
    assert!(sent == "tenant=acme", "{}", &sent[..sent.len().min(80)]);
    // TENANT's own value too large to send: dropped, and its space never goes to the client.
    let sent = sent_with_tenant(Some("tenant=victim,vendor=v1"), Some("t".repeat(9000)));
    assert_eq!(sent.as_deref(), Some("vendor=v1"));
}

#[test]
fn an_own_member_dropped_for_size_gets_a_debug_line_with_its_key() {
    let messages: &'static Messages = Box::leak(Box::default());
    // tracing caches each callsite's interest for every thread: a test running at the same time
    // without a subscriber can leave it disabled right after this one rebuilds it, so the
    // request is sent again (a few times at most) until the line is seen.
    for _ in 0..20 {
        let sent = tracing::subscriber::with_default(messages, || {
            tracing::callsite::rebuild_interest_cache();
            sent_with_tenant(Some("tenant=victim"), Some("t".repeat(9000)))
        });
        assert_eq!(sent, None);
        if !messages.0.lock().unwrap().is_empty() {
            break;
        }
    }
    let lines = messages.0.lock().unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].0, tracing::Level::DEBUG);
    assert!(lines[0].1.contains("`tenant` not sent"), "{lines:?}");
}

/// Collects the messages of the events it sees, with their level.
#[derive(Default)]
struct Messages(std::sync::Mutex<Vec<(tracing::Level, String)>>);

struct Message<'a>(&'a mut String);

impl tracing::field::Visit for Message<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for &'static Messages {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut message = String::new();
        event.record(&mut Message(&mut message));
        let level = *event.metadata().level();
        self.0.lock().unwrap().push((level, message));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn each_skipped_member_gets_a_debug_line() {
    let messages: &'static Messages = Box::leak(Box::default());
    let layer = ContextLayer::with_base(Context::new()).accept_baggage(Accept::keys(["tenant"]));
    let answer =
        tracing::subscriber::with_default(messages, || serve(layer, &[b"tenant=%FF,n=7,broken"]));
    assert_eq!(answer, seen("none", 0));
    let lines = messages.0.lock().unwrap();
    assert!(
        lines
            .iter()
            .all(|(level, _)| *level == tracing::Level::DEBUG)
    );
    let text: Vec<&str> = lines.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(
        text[0].contains("`tenant` is not percent-encoded UTF-8"),
        "{text:?}"
    );
    assert!(text[1].contains("`broken` is malformed"), "{text:?}");
    assert!(text[2].contains("`n` is not accepted"), "{text:?}");
}
