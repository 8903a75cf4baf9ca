//! Without tokio's task hooks, a plain `tokio::spawn` task writes into its worker thread's own
//! context, where later plain tasks read it. The leak is reproduced here, and the check in
//! `ContextVar::set` reports it (counts it, prints it once per thread) or refuses it; writes
//! from tasks with a context of their own are never reported.

use contextvars_tests::plain_spawn;

use std::sync::{Mutex, MutexGuard, PoisonError};

use contextvars::tokio::{LeakCheck, leak_check, leaked_writes, set_leak_check};
use contextvars::{Context, FutureExt};
use plain_spawn::{LEFT_BEHIND, parent_after_plain_child, requests_with_plain_tasks};

/// The check's mode and counter are process-wide: one test at a time, each restoring the mode.
struct Exclusive {
    previous: LeakCheck,
    _lock: MutexGuard<'static, ()>,
}

fn exclusive(check: LeakCheck) -> Exclusive {
    static LOCK: Mutex<()> = Mutex::new(());
    let lock = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let previous = leak_check();
    set_leak_check(check);
    Exclusive {
        previous,
        _lock: lock,
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        set_leak_check(self.previous);
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn plain_tasks_of_later_requests_read_what_an_earlier_one_left_and_each_write_is_reported() {
    let _check = exclusive(LeakCheck::Report);
    let before = leaked_writes();
    let seen = current_thread().block_on(requests_with_plain_tasks(4));
    assert_eq!(
        seen,
        [
            "nothing",
            "LEAKED-BY-PLAIN-SPAWN-0",
            "LEAKED-BY-PLAIN-SPAWN-1",
            "LEAKED-BY-PLAIN-SPAWN-2"
        ]
    );
    assert_eq!(leaked_writes() - before, 4);
}

#[test]
fn a_plain_child_overwrites_its_plain_parent_s_value_and_both_writes_are_reported() {
    let _check = exclusive(LeakCheck::Report);
    let before = leaked_writes();
    assert_eq!(
        current_thread().block_on(parent_after_plain_child()),
        "child"
    );
    assert_eq!(leaked_writes() - before, 2);
}

#[test]
fn writes_in_a_context_of_their_own_are_never_reported() {
    let _check = exclusive(LeakCheck::Report);
    let before = leaked_writes();
    current_thread().block_on(async {
        // The future of `block_on` is not a task.
        LEFT_BEHIND.set("main".to_owned());
        contextvars::spawn(async { LEFT_BEHIND.set("helper".to_owned()) })
            .await
            .unwrap();
        tokio::spawn(async { LEFT_BEHIND.set("wrapped".to_owned()) }.with_current_context())
            .await
            .unwrap();
        tokio::spawn(async { Context::new().run(|| LEFT_BEHIND.set("run".to_owned())) })
            .await
            .unwrap();
        contextvars::spawn_blocking(|| LEFT_BEHIND.set("blocking".to_owned()))
            .await
            .unwrap();
        let mut set = contextvars::tokio::JoinSet::new();
        set.spawn(async { LEFT_BEHIND.set("join set".to_owned()) });
        set.join_all().await;
    });
    assert_eq!(leaked_writes(), before);
}

#[test]
fn a_plain_blocking_closure_writing_its_thread_s_context_is_reported() {
    let _check = exclusive(LeakCheck::Report);
    let before = leaked_writes();
    current_thread().block_on(async {
        tokio::task::spawn_blocking(|| drop(LEFT_BEHIND.set("blocking".to_owned())))
            .await
            .unwrap();
    });
    assert_eq!(leaked_writes() - before, 1);
}

#[test]
fn strict_mode_refuses_the_write_so_the_next_plain_task_sees_nothing() {
    let _check = exclusive(LeakCheck::Panic);
    let before = leaked_writes();
    current_thread().block_on(async {
        let refused = tokio::spawn(async { LEFT_BEHIND.set("refused".to_owned()) }).await;
        let panic = refused.unwrap_err().into_panic();
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(message.contains("`left_behind` set at"), "{message}");
        assert!(message.contains("leak_check.rs"), "{message}");
        let next = tokio::spawn(async { LEFT_BEHIND.get() }).await.unwrap();
        assert_eq!(next, "nothing");
    });
    assert_eq!(leaked_writes() - before, 1);
}

#[test]
fn with_the_check_off_nothing_is_counted() {
    let _check = exclusive(LeakCheck::Off);
    let before = leaked_writes();
    let seen = current_thread().block_on(requests_with_plain_tasks(2));
    assert_eq!(seen, ["nothing", "LEAKED-BY-PLAIN-SPAWN-0"]);
    assert_eq!(leaked_writes(), before);
}

#[test]
fn the_check_is_off_until_a_call_switches_it_on() {
    // Every test here restores the mode it found, so under the lock the mode found is the
    // process's default, whichever tests ran before: the `tokio` feature alone checks nothing.
    let check = exclusive(LeakCheck::Off);
    assert_eq!(check.previous, LeakCheck::Off);
}
