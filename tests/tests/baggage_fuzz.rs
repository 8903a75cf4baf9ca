//! The baggage decoder against random and mutated headers: it never panics, reads only
//! declared keys, binds only accepted variables, leaves every other variable alone, and reads
//! back exactly what it wrote. Each case feeds it two headers: CI's release run sets
//! `CONTEXTVARS_MODEL_CASES=60000`, 120,000 headers.

use contextvars_tests::cases;

use contextvars::baggage::{Accept, Baggage, MAX_BYTES};
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
