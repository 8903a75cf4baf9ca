//! Interoperability with `opentelemetry_sdk`'s own `BaggagePropagator`, both ways, and
//! composition with `TraceContextPropagator`.

use std::collections::HashMap;

use contextvars::baggage::Accept;
use contextvars::{Context, context_var};
use contextvars_opentelemetry::BaggagePropagator;
use opentelemetry::KeyValue;
use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::{
    BaggagePropagator as SdkBaggagePropagator, TraceContextPropagator,
};

#[context_var(default = String::from("none"), propagate = "tenant")]
static TENANT: String;

#[context_var(default = String::from("-"), propagate = "request_id")]
static REQUEST_ID: String;

#[context_var(default = String::from("anonymous"))]
static USER_ID: String;

/// Values with every character that baggage must encode. OpenTelemetry trims the values it
/// reads and writes `%` as it is, so none starts or ends with a space and no `%` is followed by
/// two hex digits.
const HARD_VALUES: [&str; 6] = [
    "acme corp",
    "a,b,c",
    "k=v;p=q",
    "50% off, 100%",
    "çà et là 漢字 🦀",
    "plus+sign \"quoted\" back\\slash",
];

fn ours_inject(tenant: &str) -> HashMap<String, String> {
    let mut carrier = HashMap::new();
    Context::new().run(|| {
        let _tenant = TENANT.set(tenant.to_owned());
        let _user = USER_ID.set("ada".to_owned());
        BaggagePropagator::new().inject_context(&opentelemetry::Context::new(), &mut carrier);
    });
    carrier
}

#[test]
fn what_we_inject_the_sdk_extracts_exactly() {
    for value in HARD_VALUES {
        let carrier = ours_inject(value);
        let cx = SdkBaggagePropagator::new().extract(&carrier);
        assert_eq!(
            cx.baggage().get("tenant").map(|v| v.as_str().to_owned()),
            Some(value.to_owned()),
            "header {:?}",
            carrier["baggage"]
        );
        assert_eq!(cx.baggage().len(), 1, "only the propagated variable leaves");
    }
}

#[test]
fn what_the_sdk_injects_we_decode_exactly() {
    for value in HARD_VALUES {
        let mut carrier = HashMap::new();
        let cx = opentelemetry::Context::new()
            .with_baggage([KeyValue::new("tenant", value), KeyValue::new("other", "x")]);
        SdkBaggagePropagator::new().inject_context(&cx, &mut carrier);
        let extracted = BaggagePropagator::new()
            .accept_baggage(Accept::all())
            .extract(&carrier);
        let seen = contextvars_opentelemetry::to_context(&extracted).run(|| TENANT.get());
        assert_eq!(seen, value, "header {:?}", carrier["baggage"]);
    }
}

#[test]
fn composes_with_trace_context_both_ways() {
    let propagator = TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new().accept_baggage(Accept::keys(["tenant", "request_id"]))),
    ]);
    let span = SpanContext::new(
        TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c_u128),
        SpanId::from(0xb7ad_6b71_6920_3331_u64),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let cx = opentelemetry::Context::new().with_remote_span_context(span.clone());
    let mut carrier = HashMap::new();
    Context::new().run(|| {
        let _tenant = TENANT.set("acme".to_owned());
        let _id = REQUEST_ID.set("req-1".to_owned());
        propagator.inject_context(&cx, &mut carrier);
    });
    assert!(carrier["traceparent"].starts_with("00-0af7651916cd43dd8448eb211c80319c-"));

    let extracted = propagator.extract(&carrier);
    assert_eq!(extracted.span().span_context().trace_id(), span.trace_id());
    let seen = contextvars_opentelemetry::to_context(&extracted)
        .run(|| (TENANT.get(), REQUEST_ID.get(), USER_ID.get()));
    assert_eq!(seen, ("acme".into(), "req-1".into(), "anonymous".into()));
}

#[test]
fn other_baggage_in_the_header_is_kept_and_ours_is_never_duplicated() {
    let composite = TextMapCompositePropagator::new(vec![
        Box::new(SdkBaggagePropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]);
    let cx = opentelemetry::Context::new().with_baggage(Baggage::from_iter([
        KeyValue::new("tenant", "stale"),
        KeyValue::new("session-region", "eu west"),
    ]));
    let mut carrier = HashMap::new();
    Context::new().run(|| {
        let _tenant = TENANT.set("acme".to_owned());
        composite.inject_context(&cx, &mut carrier);
    });
    let header = &carrier["baggage"];
    assert_eq!(header.matches("tenant=").count(), 1, "{header}");
    let theirs = SdkBaggagePropagator::new().extract(&carrier);
    assert_eq!(theirs.baggage().get("tenant").unwrap().as_str(), "acme");
    assert_eq!(
        theirs.baggage().get("session-region").unwrap().as_str(),
        "eu west"
    );
}

#[test]
fn an_opentelemetry_member_never_goes_out_under_a_propagated_key() {
    // OpenTelemetry's own baggage, which the SDK's propagator fills from a client at the edge.
    let cx = opentelemetry::Context::new().with_baggage(Baggage::from_iter([
        KeyValue::new("tenant", "victim"),
        KeyValue::new("session-region", "eu"),
    ]));
    let inject = |tenant: Option<&str>| {
        let mut carrier = HashMap::new();
        Context::new().run(|| {
            let _tenant = tenant.map(|t| TENANT.set(t.to_owned()));
            BaggagePropagator::new().inject_context(&cx, &mut carrier);
        });
        carrier.remove("baggage")
    };
    assert_eq!(inject(None).as_deref(), Some("session-region=eu"));
    assert_eq!(
        inject(Some("acme")).as_deref(),
        Some("tenant=acme,session-region=eu")
    );
    let huge = "t".repeat(9000);
    assert_eq!(inject(Some(&huge)).as_deref(), Some("session-region=eu"));
}

#[test]
fn nothing_is_extracted_unless_accepted() {
    let carrier = HashMap::from([(
        "baggage".to_owned(),
        "tenant=acme,request_id=forged,USER_ID=root".to_owned(),
    )]);
    let edge = BaggagePropagator::new().extract(&carrier);
    let seen =
        contextvars_opentelemetry::to_context(&edge).run(|| (TENANT.get(), REQUEST_ID.get()));
    assert_eq!(seen, ("none".into(), "-".into()));

    let internal = BaggagePropagator::new()
        .accept_baggage(Accept::keys(["request_id"]))
        .extract(&carrier);
    let seen = contextvars_opentelemetry::to_context(&internal)
        .run(|| (TENANT.get(), REQUEST_ID.get(), USER_ID.get()));
    assert_eq!(seen, ("none".into(), "forged".into(), "anonymous".into()));
}
