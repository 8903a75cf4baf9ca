//! Companions: a thread-local of another library that rides in contexts through every hand-off.

use std::cell::{Cell, RefCell};

use contextvars::companion::{self, Companion};
use contextvars::{Context, ContextTemplate, ContextVar, FutureExt, copy_context};

thread_local! {
    /// The companion library's own thread state: the "current tag".
    static TAG: Cell<u32> = const { Cell::new(0) };
    static SAVED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

fn tag() -> u32 {
    TAG.with(Cell::get)
}

fn set_tag(tag: u32) {
    TAG.with(|t| t.set(tag));
}

struct Tag;

impl Companion for Tag {
    type State = u32;

    fn capture(&self) -> Option<u32> {
        Some(tag()).filter(|&tag| tag != 0)
    }

    fn enter(&self, state: &u32) {
        let previous = TAG.with(|t| t.replace(*state));
        SAVED.with(|saved| saved.borrow_mut().push(previous));
    }

    fn exit(&self, _state: &u32) {
        let previous = SAVED.with(|saved| saved.borrow_mut().pop()).unwrap();
        set_tag(previous);
    }
}

fn setup() {
    companion::register(Tag);
    assert!(companion::is_registered::<Tag>());
}

/// Runs `f` with the tag set on this thread, restoring it after.
fn with_tag<R>(tag: u32, f: impl FnOnce() -> R) -> R {
    let previous = TAG.with(|t| t.replace(tag));
    let r = f();
    set_tag(previous);
    r
}

#[test]
fn registering_twice_is_harmless() {
    setup();
    assert!(!companion::register(Tag));
}

#[test]
fn run_enters_the_captured_state_and_restores_the_thread_state() {
    setup();
    let mut ctx = with_tag(7, copy_context);
    assert_eq!(ctx.companion_state::<Tag>(), Some(&7));
    set_tag(1);
    assert_eq!(ctx.run(tag), 7);
    assert_eq!(tag(), 1);
    // Nested: the inner context's state, then the outer's again.
    let mut inner = with_tag(9, Context::inherited);
    ctx.run(|| {
        assert_eq!(inner.run(tag), 9);
        assert_eq!(tag(), 7);
    });
    assert_eq!(tag(), 1);
    set_tag(0);
}

#[test]
fn contexts_without_a_state_leave_the_thread_state_alone() {
    setup();
    with_tag(5, || {
        assert_eq!(Context::new().run(tag), 5);
        assert_eq!(Context::new().companion_state::<Tag>(), None);
    });
    // Captured while the companion had nothing to carry.
    let mut empty = copy_context();
    assert_eq!(empty.companion_state::<Tag>(), None);
    with_tag(6, || assert_eq!(empty.run(tag), 6));
}

#[test]
fn clones_carry_the_same_state_and_it_can_be_replaced() {
    setup();
    let mut ctx = with_tag(3, copy_context);
    let mut clone = ctx.clone();
    assert_eq!(clone.run(tag), 3);
    assert!(clone.set_companion_state::<Tag>(Some(4)));
    assert_eq!(clone.run(tag), 4);
    assert_eq!(ctx.run(tag), 3);
    assert!(ctx.set_companion_state::<Tag>(None));
    assert_eq!(ctx.companion_state::<Tag>(), None);
    assert_eq!(ctx.run(tag), 0);
}

#[test]
fn bound_closures_and_threads_run_in_the_captured_state() {
    setup();
    let (job, each) = with_tag(11, || {
        (
            contextvars::bind(tag),
            contextvars::bind_each(|| {
                set_tag(99); // gone when the call returns
                11
            }),
        )
    });
    assert_eq!(std::thread::spawn(job).join().unwrap(), 11);
    assert_eq!(each(), 11);
    assert_eq!(tag(), 0);
    let handle = with_tag(12, || contextvars::thread::spawn(tag));
    assert_eq!(handle.join().unwrap(), 12);
}

#[test]
fn templates_enter_the_state_for_every_run() {
    setup();
    let mut template = with_tag(21, || ContextTemplate::new(Context::inherited()));
    let seen: Vec<u32> = template.run_items(0..3, |items| items.map(|_| tag()).collect());
    assert_eq!(seen, [21; 3]);
    assert_eq!(template.run(tag), 21);
    assert_eq!(tag(), 0);
}

#[test]
fn futures_enter_the_state_on_every_poll() {
    setup();
    let future = with_tag(31, || {
        async {
            let before = tag();
            tokio::task::yield_now().await;
            (before, tag())
        }
        .with_current_context()
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    assert_eq!(
        runtime.block_on(async { contextvars::spawn(future).await.unwrap() }),
        (31, 31)
    );
    let spawned = runtime.block_on(async {
        let handle = with_tag(32, || {
            contextvars::spawn(async {
                tokio::task::yield_now().await;
                tag()
            })
        });
        let blocking = with_tag(33, || contextvars::spawn_blocking(tag));
        (handle.await.unwrap(), blocking.await.unwrap())
    });
    assert_eq!(spawned, (32, 33));
}

static V: ContextVar<u32> = ContextVar::new("v");

#[test]
fn a_panic_inside_run_leaves_both_states_restored() {
    setup();
    let mut ctx = with_tag(41, copy_context);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ctx.run(|| {
            V.set(1);
            panic!("inside");
        })
    }));
    assert!(result.is_err());
    assert_eq!(tag(), 0);
    assert!(!V.is_set());
    assert_eq!(ctx.get(&V), Some(1));
}
