//! The baggage decoder against random and mutated headers: it never panics, reads only
//! declared keys, binds only accepted variables, leaves every other variable alone, and reads
//! back exactly what it wrote. Each case feeds it two headers: CI's release run sets
//! `CONTEXTVARS_MODEL_CASES=60000`, 120,000 headers. And the encoder against random forwarded
//! headers and random own values: a propagated key never carries a forwarded member.

use contextvars_tests::cases;

use std::collections::HashMap;

use contextvars::baggage::{self, Accept, Baggage, MAX_BYTES, MAX_MEMBERS};
use contextvars::{Context, context_var};
use proptest::prelude::*;

#[context_var(default = String::from("none"), propagate = "tenant")]
static TENANT: String;

#[context_var(default = 0, propagate = "n")]
static NUMBER: i64;

#[context_var(default = String::from("anonymous"))]
static USER_ID: String;

fn header_pieces() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("tenant".to_owned()),
        Just("n".to_owned()),
        Just("USER_ID".to_owned()),
        Just("=".to_owned()),
        Just(",".to_owned()),
        Just(";".to_owned()),
        Just(" ".to_owned()),
        Just("\t".to_owned()),
        Just("%".to_owned()),
        Just("%FF".to_owned()),
        Just("%C3%A9".to_owned()),
        Just("+".to_owned()),
        "[0-9]{1,4}",
        "\\PC{0,6}",
        "[a-z%=,;]{0,8}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let valid = (any::<String>(), any::<i64>()).prop_map(|(tenant, n)| {
        Context::new().run(|| {
            let _t = TENANT.set(tenant);
            let _n = NUMBER.set(n);
            Baggage::current().merge_into(Some(b"other=1;p,x=y"))
        })
    });
    (
        valid,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 0..8),
    )
        .prop_map(|(header, edits)| {
            let mut bytes = header.into_bytes();
            for (at, byte, kind) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let at = at.index(bytes.len());
                match kind {
                    0 => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ => drop(bytes.remove(at)),
                }
            }
            bytes
        })
}

/// Decodes and applies `header` in a fresh context with a user id set, and checks what must
/// hold whatever the header.
fn check(header: &[u8], accept: &Accept) {
    let baggage = Baggage::from_header(header, |skipped| assert!(!skipped.to_string().is_empty()));
    assert!(baggage.iter().all(|(key, _)| key == "tenant" || key == "n"));
    let again = Baggage::from_header(baggage.to_header().as_bytes(), |s| panic!("{s}"));
    assert_eq!(again, baggage);
    let mut context = Context::new();
    context.run(|| {
        let _user = USER_ID.set("ada".to_owned());
        baggage.apply(accept, |_| {});
        assert_eq!(USER_ID.get(), "ada");
        if !accept.accepts("tenant") {
            assert_eq!(TENANT.get(), "none");
        }
        if let Some(text) = baggage.get("tenant").filter(|_| accept.accepts("tenant")) {
            assert_eq!(TENANT.get(), text);
        }
    });
    assert!(context.len() <= 3);
}

proptest! {
    #![proptest_config(cases::config(400))]

    #[test]
    fn random_and_mutated_headers_are_read_safely(
        random in prop_oneof![header_pieces().prop_map(String::into_bytes), prop::collection::vec(any::<u8>(), 0..200)],
        mutated in mutated(),
        which in 0..3u8,
    ) {
        let accept = match which {
            0 => Accept::none(),
            1 => Accept::keys(["n"]),
            _ => Accept::all(),
        };
        check(&random, &accept);
        check(&mutated, &accept);
    }

    #[test]
    fn every_value_round_trips(tenant in any::<String>(), n in any::<i64>()) {
        let header = Context::new().run(|| {
            let _t = TENANT.set(tenant.clone());
            let _n = NUMBER.set(n);
            Baggage::current().to_header()
        });
        prop_assume!(header.len() <= MAX_BYTES);
        let mut context = Context::new();
        let seen = context.run(|| {
            Baggage::from_header(header.as_bytes(), |s| panic!("{s}")).apply(&Accept::all(), |_| {});
            (TENANT.get(), NUMBER.get())
        });
        prop_assert_eq!(seen, (tenant, n));
    }
}

/// A forwarded header: members under the propagated keys (also spelt with whitespace,
/// properties or percent-encoding), under other keys, small and oversized.
fn forwarded() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("tenant"),
        Just(" tenant "),
        Just("ten%61nt"),
        Just("n"),
        Just("%6E"),
        Just("x-request-id"),
        Just("vendor"),
        Just("other"),
    ];
    let value = prop_oneof![
        4 => "[a-zA-Z0-9%]{0,12}",
        1 => (8100..8300usize).prop_map(|len| "v".repeat(len)),
    ];
    let property = prop_oneof![Just(""), Just(";p=1"), Just(";q")];
    prop::collection::vec((key, value, property), 0..80).prop_map(|members| {
        members
            .into_iter()
            .map(|(key, value, property)| format!("{key}={value}{property}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// The gateway's own value of `TENANT`: unbound, small, or too large to send.
fn own_tenant() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        "[a-z ,=%é]{0,16}".prop_map(Some),
        (8200..9000usize).prop_map(|len| Some("t".repeat(len))),
    ]
}

/// What must hold of an outgoing header whatever was forwarded: within the limits, and every
/// member under a propagated key is the context's own value, once.
fn check_outgoing(header: &str, tenant: Option<&str>, n: Option<i64>) {
    let shown = &header[..header.len().min(120)];
    assert!(header.len() <= MAX_BYTES, "{} bytes", header.len());
    let members: Vec<&str> = header.split(',').filter(|m| !m.is_empty()).collect();
    assert!(members.len() <= MAX_MEMBERS);
    let mut seen = Vec::new();
    for member in members {
        let (key, value) = member.split_once('=').unwrap_or((member, ""));
        let key = key.split(';').next().unwrap().trim();
        let key = percent_decode(key);
        let value = percent_decode(value.split(';').next().unwrap().trim());
        let own = match key.as_str() {
            "tenant" => tenant.map(str::to_owned),
            "n" => n.map(|n| n.to_string()),
            _ => continue,
        };
        assert_eq!(Some(value), own, "a forwarded `{key}` went out: {shown}");
        assert!(!seen.contains(&key), "`{key}` twice: {shown}");
        seen.push(key);
    }
    if n.is_some() {
        assert!(seen.iter().any(|k| k == "n"), "own `n` left out: {shown}");
    }
    match tenant {
        Some(t) if t.len() < 100 => assert!(seen.iter().any(|k| k == "tenant"), "{shown}"),
        _ => {}
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.map(|h| u8::from_str_radix(h, 16)) {
            Some(Ok(byte)) if bytes[i] == b'%' => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

proptest! {
    // Each case writes three headers of up to 80 members, some of 8 KB: CI's release run
    // takes at most 20,000 of them (about 2 ms each in a debug build).
    #![proptest_config({
        let mut config = cases::config(300);
        config.cases = config.cases.min(20_000);
        config
    })]

    #[test]
    fn a_forwarded_member_never_goes_out_under_a_propagated_key(
        forwarded in forwarded(),
        tenant in own_tenant(),
        n in prop::option::of(any::<i64>()),
    ) {
        let (one_pass, merged, injected) = Context::new().run(|| {
            let _t = tenant.clone().map(|t| TENANT.set(t));
            let _n = n.map(|n| NUMBER.set(n));
            let mut carrier = HashMap::from([("baggage".to_owned(), forwarded.clone())]);
            baggage::inject(&mut carrier);
            (
                baggage::current_header(Some(forwarded.as_bytes())),
                Baggage::current().merge_into(Some(forwarded.as_bytes())),
                carrier.remove("baggage").unwrap(),
            )
        });
        check_outgoing(&one_pass, tenant.as_deref(), n);
        prop_assert_eq!(&merged, &one_pass);
        prop_assert_eq!(&injected, &one_pass);
    }
}
