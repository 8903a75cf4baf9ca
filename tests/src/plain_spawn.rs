//! The leak a plain `tokio::spawn` causes, as a user first meets it: requests each run in their
//! own context (as the tower layer runs them), and each starts a plain task that reads a
//! variable and then sets it.

use contextvars::{Context, ContextVar, FutureExt};

/// What a request's plain task leaves behind.
pub static LEFT_BEHIND: ContextVar<String> =
    ContextVar::with_default("left_behind", || "nothing".to_owned());

/// Handles `requests` requests one after the other, each in a fresh context; request `n`
/// starts a plain `tokio::spawn` task that reads [`LEFT_BEHIND`] and then sets it to
/// `LEAKED-BY-PLAIN-SPAWN-n`. What each request's task read, in order.
pub async fn requests_with_plain_tasks(requests: usize) -> Vec<String> {
    let mut seen = Vec::with_capacity(requests);
    for n in 0..requests {
        let request = async move {
            tokio::spawn(async move {
                let before = LEFT_BEHIND.get();
                LEFT_BEHIND.set(format!("LEAKED-BY-PLAIN-SPAWN-{n}"));
                tokio::task::yield_now().await;
                before
            })
            .await
            .expect("the plain task does not panic")
        };
        seen.push(request.with_context(Context::new()).await);
    }
    seen
}

/// A plain parent task sets a value, starts a plain child that sets another, and reads its own
/// value back after the child finished: what the parent reads.
pub async fn parent_after_plain_child() -> String {
    tokio::spawn(async {
        LEFT_BEHIND.set("parent".to_owned());
        tokio::spawn(async {
            LEFT_BEHIND.set("child".to_owned());
        })
        .await
        .expect("the child does not panic");
        LEFT_BEHIND.get()
    })
    .await
    .expect("the parent does not panic")
}
