//! The load generators' HTTP call, shared by the server examples: send one request, read the
//! whole body, and turn a failure or a non-success status into an error text.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

/// The client every load generator uses.
pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

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
