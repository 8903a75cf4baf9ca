//! Values are dropped when the last context holding them goes, and variables made at run time
//! leave nothing behind. Live bytes are counted per thread by a counting allocator, so tests
//! running in parallel do not disturb each other's figures.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use contextvars::{Context, ContextVar, copy_context};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::live_bytes;

struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn values_are_dropped_with_the_last_context_holding_them() {
    static V: ContextVar<DropCounter> = ContextVar::new("v");
    let drops = Arc::new(AtomicUsize::new(0));
    let mut ctx = Context::new();
    ctx.run(|| {
        V.set(DropCounter(drops.clone()));
    });
    let snapshot = ctx.clone();
    let other = ctx.clone();
    drop(ctx);
    drop(other);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "a snapshot still holds it");
    assert!(snapshot.contains(&V));
    drop(snapshot);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn overwritten_and_reset_values_are_dropped_once_unreferenced() {
    static V: ContextVar<Arc<()>> = ContextVar::new("v");
    let first = Arc::new(());
    let second = Arc::new(());
    Context::new().run(|| {
        let token = V.set(first.clone());
        let held = copy_context();
        let token2 = V.set(second.clone());
        // One stored value, shared by the snapshot and token2 (values are shared, not cloned).
        assert_eq!(Arc::strong_count(&first), 2);
        drop(held);
        V.reset(token2).unwrap();
        assert_eq!(
            Arc::strong_count(&second),
            1,
            "reset dropped the overwritten value"
        );
        V.reset(token).unwrap();
        assert_eq!(Arc::strong_count(&first), 1);
    });
}

#[test]
fn a_thread_context_drops_its_values_when_the_thread_ends() {
    static V: ContextVar<DropCounter> = ContextVar::new("v");
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = drops.clone();
    std::thread::spawn(move || {
        V.set(DropCounter(counter));
    })
    .join()
    .unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn runtime_variables_made_and_dropped_in_a_loop_keep_memory_bounded() {
    static KEEP: ContextVar<u64> = ContextVar::new("keep");
    Context::new().run(|| {
        KEEP.set(1);
        let cycle = |i: u64| {
            let var = ContextVar::new("temporary");
            var.set(i);
            assert_eq!(var.get(), i);
        };
        for i in 0..10_000 {
            cycle(i);
        }
        let warm = live_bytes();
        for i in 0..1_000_000 {
            cycle(i);
        }
        let grown = live_bytes() - warm;
        assert!(grown <= 1024, "grew by {grown} bytes over a million cycles");
        assert_eq!(copy_context().len(), 1);
    });
}

#[test]
fn contexts_made_and_dropped_return_every_byte() {
    static V: ContextVar<String> = ContextVar::new("v");
    let vars: Vec<ContextVar<u64>> = (0..64).map(|_| ContextVar::new("x")).collect();
    let before = live_bytes();
    for round in 0..10_000u64 {
        let mut ctx = Context::new();
        ctx.run(|| {
            V.set(format!("request {round}"));
            for var in &vars {
                var.set(round);
            }
            let mut child = copy_context();
            child.run(|| vars[0].set(0));
        });
    }
    assert_eq!(live_bytes() - before, 0);
}

#[test]
fn a_value_dropped_at_thread_exit_may_read_variables() {
    static OTHER: ContextVar<u32> = ContextVar::with_default("other", || 5);
    static HOLDER: ContextVar<ReadsOnDrop> = ContextVar::new("holder");
    struct ReadsOnDrop(Arc<AtomicUsize>);
    impl Drop for ReadsOnDrop {
        fn drop(&mut self) {
            // Runs at thread exit, after the thread's context was emptied: reads see the default.
            let seen = OTHER.get_or(9) as usize + OTHER.with(|v| v.copied().unwrap_or(0)) as usize;
            self.0.store(seen, Ordering::SeqCst);
        }
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let held = seen.clone();
    std::thread::spawn(move || {
        OTHER.set(1);
        HOLDER.set(ReadsOnDrop(held));
    })
    .join()
    .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 9 + 5);
}
