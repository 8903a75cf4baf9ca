//! The two-services example under load: 2,000 concurrent requests through the gateway on a
//! multi-thread runtime, every backend answer with exactly its own request id and tenant, and
//! the default user id (the user never leaves the gateway, and the clients' forged baggage never
//! gets past it).

#[path = "../two_services/app.rs"]
mod app;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_backend_answer_carries_its_own_request_and_tenant() {
    let (gateway, _backend) = app::start().unwrap();
    let tally = app::load(gateway, 2_000, 2_000).await;
    assert_eq!(tally.errors, 0);
    assert_eq!(tally.crosstalk, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&tally.first.unwrap()).unwrap(),
        app::expected_answer(0)
    );
}
