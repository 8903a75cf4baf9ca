//! Threads.

use contextvars::{Context, ContextVar, LookupError, copy_context};

#[test]
fn each_thread_has_its_own_context() {
    static V: ContextVar<usize> = ContextVar::new("v");
    let threads: Vec<_> = (0..10)
        .map(|id| {
            std::thread::spawn(move || {
                assert_eq!(V.try_get().ok(), None, "threads start empty");
                for round in 0..2_000 {
                    let value = id * 1_000_000 + round;
                    V.set(value);
                    if round % 100 == 0 {
                        std::thread::yield_now();
                    }
                    assert_eq!(V.get(), value);
                }
                id
            })
        })
        .collect();
    let ids: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
}

#[contextvars::test]
fn std_threads_start_empty_and_our_spawn_inherits_a_copy() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let _token = V.set(1);
    assert_eq!(
        std::thread::spawn(|| V.try_get().ok()).join().unwrap(),
        None
    );
    let seen = contextvars::thread::spawn(|| {
        let seen = V.get();
        V.set(2);
        seen
    })
    .join()
    .unwrap();
    assert_eq!(seen, 1);
    assert_eq!(V.get(), 1, "the thread's changes do not flow back");
}

#[contextvars::test]
fn thread_spawn_takes_the_copy_at_the_call() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let token = V.set(1);
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let thread = contextvars::thread::spawn(move || {
        wait.recv().unwrap();
        V.get()
    });
    V.reset(token).unwrap();
    V.set(5);
    go.send(()).unwrap();
    assert_eq!(thread.join().unwrap(), 1);
}

#[test]
fn thread_spawn_with_an_explicit_or_empty_context() {
    static V: ContextVar<i32> = ContextVar::new("v");
    let mut given = Context::new();
    given.run(|| V.set(2));
    let seen = contextvars::thread::spawn_with_context(given, || V.get())
        .join()
        .unwrap();
    assert_eq!(seen, 2);
    let seen: Result<i32, LookupError> =
        contextvars::thread::spawn_with_context(Context::new(), || V.try_get())
            .join()
            .unwrap();
    assert_eq!(seen.unwrap_err().name(), "v");
}

#[contextvars::test]
fn non_inheriting_variables_start_from_default_in_threads() {
    static TX: ContextVar<i32> = ContextVar::with_default("tx", || 0).inherit(false);
    static REQ: ContextVar<i32> = ContextVar::with_default("req", || 0);
    let _tx = TX.set(7);
    let _req = REQ.set(8);
    let seen = contextvars::thread::spawn(|| (TX.get(), REQ.get()))
        .join()
        .unwrap();
    assert_eq!(seen, (0, 8));
    assert_eq!(
        copy_context().get(&TX),
        Some(7),
        "copy_context keeps everything"
    );
    assert_eq!(Context::inherited().get(&TX), None);
}
