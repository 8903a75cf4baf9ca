//! Propagated variables as W3C baggage: what is written, what is read back, what is trusted,
//! and what happens to bad members.

use std::collections::HashMap;

use contextvars::baggage::{self, Accept, Baggage, SkipReason, Skipped};
use contextvars::propagate::{self, Propagated};
use contextvars::{Context, ContextVar, context_var};

#[context_var(default = String::from("none"), propagate = "tenant")]
static TENANT: String;

#[context_var(default = 0, propagate)]
static REQUEST_NUMBER: u64;

#[context_var(default = String::from("anonymous"))]
static USER_ID: String;

// `to_text` takes `&T`, and `T` is `Vec<String>`.
#[allow(clippy::ptr_arg)]
fn roles_to_text(roles: &Vec<String>) -> String {
    roles.join(" ")
}

fn roles_from_text(text: &str) -> Option<Vec<String>> {
    (!text.is_empty()).then(|| text.split(' ').map(str::to_owned).collect())
}

#[context_var(default = Vec::new(), propagate = "roles", to_text = roles_to_text, from_text = roles_from_text)]
static ROLES: Vec<String>;

fn decode(header: &str) -> (Baggage, Vec<Skipped>) {
    let mut skipped = Vec::new();
    let baggage = Baggage::from_header(header.as_bytes(), |s| skipped.push(s.clone()));
    (baggage, skipped)
}

fn in_fresh_context<R>(f: impl FnOnce() -> R) -> R {
    Context::new().run(f)
}

#[test]
fn only_declared_variables_bound_in_the_context_are_written() {
    in_fresh_context(|| {
        assert_eq!(Baggage::current().to_header(), "");
        let _user = USER_ID.set("ada".to_owned());
        let _tenant = TENANT.set("acme".to_owned());
        let _n = REQUEST_NUMBER.set(7);
        let header = Baggage::current().to_header();
        let mut members: Vec<&str> = header.split(',').collect();
        members.sort_unstable();
        assert_eq!(members, ["REQUEST_NUMBER=7", "tenant=acme"]);
        assert!(!header.contains("ada"));
    });
}

#[test]
fn values_round_trip_through_percent_encoding() {
    let hard = "a b,c=d;e%f+g\"h\\i é 漢字 %zz \t";
    let header = in_fresh_context(|| {
        let _tenant = TENANT.set(hard.to_owned());
        Baggage::current().to_header()
    });
    assert!(header.is_ascii());
    assert!(!header.contains(' ') && !header.contains(';') && !header.contains('+'));
    assert_eq!(header.matches(',').count(), 0);
    let (baggage, skipped) = decode(&header);
    assert!(skipped.is_empty());
    assert_eq!(baggage.get("tenant"), Some(hard));
}

#[test]
fn whitespace_properties_and_foreign_members_are_tolerated() {
    let (baggage, skipped) =
        decode(" other=1 , tenant = acme%20corp ;prop=1;flag,\tREQUEST_NUMBER=42 ");
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(baggage.get("tenant"), Some("acme corp"));
    assert_eq!(baggage.get("REQUEST_NUMBER"), Some("42"));
    assert_eq!(baggage.get("other"), None);
    assert_eq!(baggage.len(), 2);
}

#[test]
fn plus_is_a_plus_sign_and_a_lone_percent_is_itself() {
    let (baggage, _) = decode("tenant=a+b%2B50%");
    assert_eq!(baggage.get("tenant"), Some("a+b+50%"));
}

#[test]
fn custom_text_functions_are_used_both_ways() {
    let header = in_fresh_context(|| {
        let _roles = ROLES.set(vec!["admin".to_owned(), "ops".to_owned()]);
        Baggage::current().to_header()
    });
    assert_eq!(header, "roles=admin%20ops");
    let (baggage, _) = decode(&header);
    let roles = in_fresh_context(|| {
        baggage.apply(&Accept::all(), |_| {});
        ROLES.get()
    });
    assert_eq!(roles, ["admin", "ops"]);
}

#[test]
fn nothing_is_applied_unless_accepted() {
    let (baggage, _) = decode("tenant=acme,REQUEST_NUMBER=9");
    let mut skipped = Vec::new();
    let (tenant, number) = in_fresh_context(|| {
        assert_eq!(
            baggage.apply(&Accept::default(), |s| skipped.push(s.clone())),
            0
        );
        (TENANT.get(), REQUEST_NUMBER.get())
    });
    assert_eq!((tenant.as_str(), number), ("none", 0));
    assert!(skipped.iter().all(|s| s.reason == SkipReason::NotAccepted));
    let (tenant, number) = in_fresh_context(|| {
        assert_eq!(baggage.apply(&Accept::keys(["REQUEST_NUMBER"]), |_| {}), 1);
        (TENANT.get(), REQUEST_NUMBER.get())
    });
    assert_eq!((tenant.as_str(), number), ("none", 9));
}

#[test]
fn bad_members_are_skipped_and_the_rest_is_read() {
    let (baggage, skipped) = decode(
        "noequals,=empty,bad key=1,tenant=%FF%FE,REQUEST_NUMBER=12,REQUEST_NUMBER=13,roles=x",
    );
    let reasons: Vec<_> = skipped.iter().map(|s| s.reason.clone()).collect();
    assert_eq!(
        reasons,
        [
            SkipReason::Malformed,
            SkipReason::Malformed,
            SkipReason::Malformed,
            SkipReason::InvalidEncoding,
            SkipReason::Duplicate,
        ]
    );
    assert_eq!(baggage.get("tenant"), None);
    assert_eq!(baggage.get("REQUEST_NUMBER"), Some("12"));
    assert_eq!(baggage.get("roles"), Some("x"));
    assert!(skipped[4].to_string().contains("REQUEST_NUMBER"));
}

#[test]
fn a_value_that_does_not_parse_keeps_the_default_and_touches_nothing_else() {
    let (baggage, _) = decode("REQUEST_NUMBER=twelve,tenant=acme");
    let mut skipped = Vec::new();
    let (tenant, number) = in_fresh_context(|| {
        assert_eq!(
            baggage.apply(&Accept::all(), |s| skipped.push(s.clone())),
            1
        );
        (TENANT.get(), REQUEST_NUMBER.get())
    });
    assert_eq!((tenant.as_str(), number), ("acme", 0));
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].reason, SkipReason::InvalidValue);
}

#[test]
fn huge_headers_are_read_only_up_to_the_limits() {
    let mut many: String = (0..5_000)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join(",");
    many.push_str(",tenant=late");
    let (baggage, skipped) = decode(&many);
    assert!(baggage.is_empty());
    assert!(matches!(
        skipped.last().unwrap().reason,
        SkipReason::TooLarge(_)
    ));
    let long = format!("tenant=early,pad={}", "x".repeat(50_000));
    let (baggage, skipped) = decode(&long);
    assert_eq!(baggage.get("tenant"), Some("early"));
    assert!(matches!(skipped[0].reason, SkipReason::TooLarge(n) if n > 50_000));
}

#[test]
fn written_headers_respect_the_limits_and_keep_foreign_members() {
    in_fresh_context(|| {
        let _tenant = TENANT.set("acme".to_owned());
        let existing = "tenant=stale,other=1;p=2, third=3";
        let merged = Baggage::current().merge_into(Some(existing.as_bytes()));
        assert_eq!(merged, "tenant=acme,other=1;p=2,third=3");

        let foreign: String = (0..100)
            .map(|i| format!("f{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let merged = Baggage::current().merge_into(Some(foreign.as_bytes()));
        assert_eq!(merged.split(',').count(), baggage::MAX_MEMBERS);
        assert!(merged.starts_with("tenant=acme,f0=v"));

        let big = format!("a={},b={}", "x".repeat(5000), "y".repeat(5000));
        let merged = Baggage::current().merge_into(Some(big.as_bytes()));
        assert!(merged.len() <= baggage::MAX_BYTES);
        assert_eq!(merged, format!("tenant=acme,a={}", "x".repeat(5000)));

        let _huge = TENANT.set("z".repeat(10_000));
        assert_eq!(Baggage::current().to_header(), "");
    });
}

#[test]
fn a_job_runs_with_its_producer_s_values_on_another_thread() {
    let mut metadata = HashMap::new();
    let mut request = Context::new();
    request.run(|| {
        let _tenant = TENANT.set("acme".to_owned());
        let _n = REQUEST_NUMBER.set(31);
        let _user = USER_ID.set("ada".to_owned());
        baggage::inject(&mut metadata);
    });
    assert!(!metadata["baggage"].contains("ada"));
    let seen = std::thread::spawn(move || {
        let mut job = baggage::extract(&metadata, &Accept::all());
        job.run(|| (TENANT.get(), REQUEST_NUMBER.get(), USER_ID.get()))
    })
    .join()
    .unwrap();
    assert_eq!(seen, ("acme".to_owned(), 31, "anonymous".to_owned()));
}

#[test]
fn extracting_with_accept_none_gives_an_empty_context() {
    let metadata = HashMap::from([("baggage".to_owned(), "tenant=acme".to_owned())]);
    assert!(baggage::extract(&metadata, &Accept::none()).is_empty());
}

#[test]
fn serde_form_round_trips_through_a_job_payload() {
    let carried = in_fresh_context(|| {
        let _tenant = TENANT.set("acme, inc".to_owned());
        Baggage::current()
    });
    let json = serde_json::to_string(&carried).unwrap();
    assert_eq!(json, r#"{"tenant":"acme, inc"}"#);
    let back: Baggage = serde_json::from_str(r#"{"tenant":"acme, inc","secret":"x"}"#).unwrap();
    assert_eq!(back, carried);
    let mut job = back.to_context(&Accept::all());
    assert_eq!(job.run(|| TENANT.get()), "acme, inc");
}

static PRIORITY: ContextVar<u8> = ContextVar::with_default("priority", || 0);

#[test]
fn runtime_variables_are_registered_through_the_builder() {
    Propagated::new(&PRIORITY).key("prio").register();
    assert!(propagate::all().any(|var| var.key() == "prio" && var.var_name() == "priority"));
    let header = in_fresh_context(|| {
        let _p = PRIORITY.set(3);
        Baggage::current().to_header()
    });
    assert!(header.split(',').any(|m| m == "prio=3"), "{header}");
}

#[test]
fn a_second_member_never_replaces_a_first_unusable_one() {
    let (baggage, skipped) = decode("tenant=%FF,tenant=acme");
    assert_eq!(baggage.get("tenant"), None);
    assert_eq!(skipped.len(), 2);
    assert_eq!(skipped[1].reason, SkipReason::Duplicate);
}

#[test]
fn the_one_pass_header_is_the_captured_baggage_merged() {
    in_fresh_context(|| {
        let _tenant = TENANT.set("a b".to_owned());
        let _n = REQUEST_NUMBER.set(3);
        let existing = b"x=1, tenant=old,y=2;p";
        assert_eq!(
            baggage::current_header(Some(existing)),
            Baggage::current().merge_into(Some(existing))
        );
    });
}
