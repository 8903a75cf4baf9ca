//! `#[contextvars::main]` and `#[contextvars::test(tokio)]`: a runtime whose tasks run in their
//! own contexts, with the hooks when built with `--cfg tokio_unstable`.

use contextvars::ContextVar;

static USER: ContextVar<&str> = ContextVar::with_default("user", || "nobody");

#[contextvars::test(tokio)]
async fn starts_in_a_fresh_context_and_spawns_inherit() {
    assert_eq!(USER.get(), "nobody");
    USER.set("Dina");
    tokio::task::yield_now().await;
    assert_eq!(
        contextvars::spawn(async { USER.get() }).await.unwrap(),
        "Dina"
    );
    // A plain spawn, as a library writes it: the task's own context only with the hooks.
    let plain = tokio::spawn(async { USER.get() }).await.unwrap();
    if cfg!(tokio_unstable) {
        assert_eq!(plain, "Dina");
    } else {
        assert_eq!(plain, "nobody");
    }
}

#[contextvars::test(tokio = "multi_thread")]
async fn multi_thread_flavor() -> Result<(), String> {
    USER.set("Ada");
    let seen = contextvars::spawn(async {
        tokio::task::yield_now().await;
        USER.get()
    })
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!(seen, "Ada");
    if cfg!(tokio_unstable) {
        assert_eq!(tokio::spawn(async { USER.get() }).await.unwrap(), "Ada");
    }
    Ok(())
}

mod main_attr {
    use super::USER;

    #[contextvars::main(flavor = "current_thread")]
    async fn main() -> u32 {
        USER.set("main");
        contextvars::spawn(async { u32::from(USER.get() == "main") })
            .await
            .unwrap()
    }

    #[test]
    fn main_runs_the_body_on_its_runtime() {
        assert_eq!(main(), 1);
        assert_eq!(USER.get(), "nobody", "the body ran in a context of its own");
    }
}
