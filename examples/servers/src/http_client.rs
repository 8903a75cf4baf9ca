//! The load generators' HTTP client, shared by the server examples: the worker loop that keeps
//! a number of requests in flight, and the call that sends one request, reads the whole body,
//! and turns a failure or a non-success status into an error text.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

/// The client every load generator uses.
pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// Runs `call(client, n)` for every `n` in `0..requests` on workers of the current runtime
/// sharing one pooled client, with at most `concurrency` calls in flight; the answers, in
/// order of `n`.
///
/// # Panics
/// When a call panics.
pub async fn load<T, F, Fut>(requests: usize, concurrency: usize, call: F) -> Vec<(usize, T)>
where
    F: Fn(HttpClient, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = T> + Send,
    T: Send + 'static,
{
    let client: HttpClient = Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(concurrency)
        .build_http();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, requests.max(1)) {
        let (client, next, call) = (client.clone(), Arc::clone(&next), call.clone());
        workers.spawn(async move {
            let mut answers = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= requests {
                    return answers;
                }
                answers.push((n, call(client.clone(), n).await));
            }
        });
    }
    let mut answers = Vec::with_capacity(requests);
    while let Some(done) = workers.join_next().await {
        answers.extend(done.expect("a client worker does not panic"));
    }
    answers.sort_by_key(|(n, _)| *n);
    answers
}

/// Sends `request` and answers its body.
///
/// # Errors
/// A text naming the status or the failure when the request fails or the status is not a
/// success.
pub async fn fetch(
    client: &HttpClient,
    request: hyper::http::request::Builder,
) -> Result<String, String> {
    let request = request.body(Empty::new()).map_err(|err| err.to_string())?;
    let response = client
        .request(request)
        .await
        .map_err(|err| err.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|err| err.to_string())?
        .to_bytes();
    let body = String::from_utf8(body.to_vec()).map_err(|err| err.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{status}: {body}"))
    }
}
