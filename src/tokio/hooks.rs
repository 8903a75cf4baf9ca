//! Every task of a runtime in its own context, through tokio's task hooks.
//!
//! The spawn hook runs on the spawning thread, inside the spawner's context: it takes
//! [`Context::inherited`] there and files it under the new task's [`Id`]. Around every poll, the
//! before-poll hook claims the task's context in the store and enters it on the polling thread,
//! and the after-poll hook leaves it and hands it back; the terminate hook drops it.
//!
//! The store ([`store`](super::store)) keeps each task's context in a cell of its own, at a
//! fixed heap address that the thread's current-context pointer may point to while the task
//! is polled: a poll claims it with one atomic operation and hands it back with a plain store,
//! no lock. A task that terminates while being polled (it returned, or a poll found it
//! cancelled) has its context dropped by the after-poll hook, after the thread has left it. The
//! polling thread keeps the claim on its frame stack ([`Frame`]).

use std::cell::{Cell, RefCell};
use std::mem::ManuallyDrop;

use ::tokio::runtime::{Builder, TaskMeta};
use ::tokio::task::Id;

use super::store::{Begin, Cache, Claim, Store};
use contextvars_core::__private::{Entered, drop_values_each, enter};

use crate::Context;

/// Makes every task of the runtime built by `builder` start in a copy of its spawner's context
/// and keep its own context across polls, as every asyncio task does (needs
/// `--cfg tokio_unstable`).
///
/// A plain [`tokio::spawn`], in your code or in a library's (hyper's connection tasks, a
/// `JoinSet`, a client pool), then behaves as `contextvars::spawn`: the task starts from
/// [`Context::inherited`] taken when it was spawned, what it sets stays in the task on
/// whichever worker it resumes, and nothing it sets is left on the worker thread for the next
/// task.
///
/// ```
/// use contextvars::ContextVar;
///
/// static USER: ContextVar<&str> = ContextVar::with_default("user", || "anonymous");
///
/// let mut builder = tokio::runtime::Builder::new_multi_thread();
/// contextvars::tokio::inherit_on_spawn(&mut builder);
/// let runtime = builder.build().unwrap();
///
/// runtime.block_on(async {
///     let _token = USER.set("dina");
///     let child = tokio::spawn(async {
///         let inherited = USER.get();
///         USER.set("changed in the child");
///         tokio::task::yield_now().await;
///         (inherited, USER.get())
///     });
///     assert_eq!(child.await.unwrap(), ("dina", "changed in the child"));
///     assert_eq!(USER.get(), "dina"); // nothing flows back
///     // A later plain task sees nothing of the first one's change.
///     assert_eq!(tokio::spawn(async { USER.get() }).await.unwrap(), "dina");
/// });
/// ```
///
/// This sets the builder's four task hooks (`on_task_spawn`, `on_before_task_poll`,
/// `on_after_task_poll`, `on_task_terminate`), replacing hooks set before; to combine them with
/// hooks of your own, call [`on_task_spawn`], [`on_before_task_poll`],
/// [`on_after_task_poll`] and [`on_task_terminate`] from yours.
///
/// # What it covers, and what it does not
///
/// - A task that panics: tokio catches the panic inside the poll and then runs the after-poll
///   hook, so the worker leaves the task's context as after any poll.
/// - A task that finishes, is aborted, or is dropped unpolled at shutdown: its context is
///   dropped by the terminate hook (or by the after-poll hook when the task ends inside a
///   poll). A task that outlives its spawner keeps its own copy.
/// - `block_in_place` and runtimes nested in it: hooks nest per thread; the closure runs in the
///   calling task's context.
/// - The future of `block_on` is not a task: it runs in the thread's own context, and the tasks
///   it spawns inherit that.
/// - Not covered: `spawn_blocking` closures (tokio calls no poll hook for them; use
///   `contextvars::spawn_blocking`), tasks of a `LocalSet` (it runs no hooks; use
///   `contextvars::spawn_local`), and the drop of a task's future at runtime shutdown, which
///   tokio runs outside any poll, so in the shutting-down thread's context.
/// - A value whose `Drop` panics when a task's context is dropped (the task ended, was aborted
///   or dropped at shutdown): the panic is caught in the hook and reported by the panic hook,
///   the other values of that context are still dropped, and the worker and the runtime carry
///   on. The task's result stands: tokio hands it to the `JoinHandle` before the hooks drop the
///   context.
/// - Not sound as a memory bound: a task spawned from one thread while another thread shuts the
///   runtime down can be terminated there before its spawn hook runs here; its context is then
///   filed after the task is gone and kept until the process exits. No task ever sees it.
/// - Every poll of a task costs one uncontended atomic operation on the task's own cell and
///   one thread-local access per hook (about 14 ns a poll on a 2-core x86 machine, a seventh
///   of an empty task's poll); a lock is taken when a task is spawned or ends, and when a
///   worker polls a task that none of its last few polls was for.
#[cfg_attr(docsrs, doc(cfg(all(feature = "tokio", tokio_unstable))))]
pub fn inherit_on_spawn(builder: &mut Builder) -> &mut Builder {
    builder
        .on_task_spawn(on_task_spawn)
        .on_before_task_poll(on_before_task_poll)
        .on_after_task_poll(on_after_task_poll)
        .on_task_terminate(on_task_terminate)
}

/// The spawn hook of [`inherit_on_spawn`]: files a copy of the spawner's context for the task.
#[cfg_attr(docsrs, doc(cfg(all(feature = "tokio", tokio_unstable))))]
pub fn on_task_spawn(meta: &TaskMeta<'_>) {
    let id = meta.id();
    // A task spawned on a runtime that is shutting down is terminated before this hook runs,
    // on this thread: its context would never be dropped.
    if TERMINATED_UNKNOWN.with(Cell::take) == Some(id) {
        return;
    }
    let replaced = STORE.spawn(id, Context::inherited());
    drop_context(replaced);
}

/// The before-poll hook of [`inherit_on_spawn`]: enters the task's context on this thread.
#[cfg_attr(docsrs, doc(cfg(all(feature = "tokio", tokio_unstable))))]
pub fn on_before_task_poll(meta: &TaskMeta<'_>) {
    let id = meta.id();
    // The common case, a worker with no poll under way that polled the task lately, in one
    // thread-local access: claim the task's context, enter it and push its frame.
    let fast = LOCAL.try_with(|local| {
        let Ok(mut local) = local.try_borrow_mut() else {
            return false;
        };
        let local = &mut *local;
        if !local.frames.is_empty() {
            return false;
        }
        let Some(slot) = local.frames.spare_capacity_mut().first_mut() else {
            return false;
        };
        let Some(claim) = STORE.claim_cached(id, &mut local.cache) else {
            return false;
        };
        // Written in place: a frame built on the stack and then pushed costs a stalled copy.
        slot.write(Frame::enter(claim));
        // SAFETY: the vector was empty, and its first element is now initialised.
        unsafe { local.frames.set_len(1) };
        true
    });
    if fast == Ok(true) {
        return;
    }
    begin_poll(id);
}

/// The rest of [`on_before_task_poll`]: a task this worker has not polled lately, one whose
/// previous poller has not handed its context back yet, or a poll inside another.
#[cold]
#[inline(never)]
fn begin_poll(id: Id) {
    leave_stale_frames();
    // A task the spawn hook did not see still gets a context of its own.
    let (begin, replaced) =
        with_cache(|cache| STORE.begin_poll(id, cache, SPINS, Context::default));
    drop_context(replaced);
    let claim = match begin {
        Begin::Claimed(claim) => claim,
        Begin::Dead => return,
        // Another thread still holds the context (a poll whose after-poll hook is lost): the
        // poll runs in a fresh context rather than wait for ever.
        Begin::Busy => STORE.detached(id, Context::default()),
    };
    let mut frame = Some(Frame::enter(claim));
    // A poll during the thread's teardown, when its frame stack is gone, runs in the thread's
    // context: the frame not pushed is dropped here, which leaves the task's context at once.
    let _ = LOCAL.try_with(|local| {
        if let Ok(mut local) = local.try_borrow_mut() {
            local.frames.extend(frame.take());
        }
    });
}

/// The after-poll hook of [`inherit_on_spawn`]: leaves the task's context and hands it back.
#[cfg_attr(docsrs, doc(cfg(all(feature = "tokio", tokio_unstable))))]
pub fn on_after_task_poll(meta: &TaskMeta<'_>) {
    let id = meta.id();
    // The common case, one frame and it is this task's: left and handed back here.
    let fast = LOCAL.try_with(|local| {
        let Ok(mut local) = local.try_borrow_mut() else {
            return Err(());
        };
        let local = &mut *local;
        match local.frames.last() {
            Some(frame) if frame.id() == id && local.frames.len() == 1 => {}
            _ => return Err(()),
        }
        let frame = local.frames.pop().ok_or(())?;
        Ok(frame.leave(&mut local.cache))
    });
    match fast {
        // A context is dropped with no borrow of the thread's state.
        Ok(Ok(None)) => {}
        Ok(Ok(unwanted)) => drop_context(unwanted),
        Ok(Err(())) | Err(_) => end_poll(id),
    }
}

/// The rest of [`on_after_task_poll`]: a poll inside another, or frames left by polls whose
/// after-poll hook never ran.
#[cold]
#[inline(never)]
fn end_poll(id: Id) {
    let popped = LOCAL.try_with(|local| {
        let mut local = local.try_borrow_mut().ok()?;
        let position = local.frames.iter().rposition(|frame| frame.id() == id)?;
        Some(local.frames.split_off(position))
    });
    // Frames above the task's own belong to polls whose after-poll hook never ran: they are
    // left first, innermost first.
    leave(popped.ok().flatten());
}

/// Leaves `frames`, innermost (last) first.
fn leave(frames: Option<Vec<Frame>>) {
    for frame in frames.into_iter().flatten().rev() {
        drop(frame);
    }
}

/// The terminate hook of [`inherit_on_spawn`]: drops the task's context.
#[cfg_attr(docsrs, doc(cfg(all(feature = "tokio", tokio_unstable))))]
pub fn on_task_terminate(meta: &TaskMeta<'_>) {
    let id = meta.id();
    // The common case: the task ended inside its poll on this thread, which holds its claim;
    // the after-poll hook drops the context.
    let claimed = LOCAL.try_with(|local| {
        let local = local.try_borrow().ok()?;
        let frame = local.frames.iter().rev().find(|frame| frame.id() == id)?;
        // A frame that already ends is one made for this poll only: the task's own context is
        // held elsewhere.
        if frame.claim.ends() {
            return None;
        }
        STORE.terminate_claimed(&frame.claim);
        Some(())
    });
    if let Ok(Some(())) = claimed {
        return;
    }
    match STORE.terminate(id, SPINS) {
        // Dropped with no lock held: values' destructors may spawn tasks.
        Ok(context) => drop_context(context),
        Err(()) => TERMINATED_UNKNOWN.with(|last| last.set(Some(id))),
    }
}

/// Drops a task's context outside its poll, each value on its own and catching a panic of a
/// value's `Drop`: a panic out of a hook would unwind through tokio's worker loop, where it
/// takes the worker, and with it the process, down. The panic hook has reported the panic; the
/// task's output, already handed to its `JoinHandle`, stands.
fn drop_context(context: Option<Context>) {
    if let Some(context) = context {
        drop(drop_values_each(context));
    }
}

/// How many times a poll yields while waiting for the previous poller of its task to hand the
/// context back: that poller is past the poll, a few instructions from its after-poll hook.
const SPINS: usize = 100_000;

/// A task's context entered on this thread for the length of one poll. Dropping it leaves the
/// context and hands it back, or drops it if the task ended: whichever way the frame goes
/// (the after-poll hook, a stale frame found by the next poll, the thread's teardown), the
/// context is left and owned again.
struct Frame {
    claim: ManuallyDrop<Claim<Id, Context>>,
    entered: ManuallyDrop<Entered<'static>>,
}

impl Frame {
    /// Enters the claimed context on this thread.
    ///
    /// Inlined, as the store's per-poll steps are, so that the before-poll hook writes the
    /// frame in place: as calls, the hooks cost about 4 ns a poll more.
    #[inline(always)]
    #[allow(clippy::inline_always)] // see above
    fn enter(claim: Claim<Id, Context>) -> Frame {
        // SAFETY: the claim owns the context until `Frame::leave` (or its drop) hands it back,
        // after this guard is dropped, and the context stays at this address until then (see
        // `Claim::with_value`). Nothing else reaches it meanwhile: its cell says the claim
        // holds it, and the frame that holds the claim stays on this thread.
        let entered = claim.with_value(|context| unsafe { enter(&mut *context) });
        Frame {
            claim: ManuallyDrop::new(claim),
            entered: ManuallyDrop::new(entered),
        }
    }

    fn id(&self) -> Id {
        *self.claim.key()
    }

    /// Leaves the context and hands it back through `cache`; returns it when the task ended
    /// (or it was a fresh one for this poll only), for the caller to drop with no borrow of the
    /// thread's state.
    #[inline(always)]
    #[allow(clippy::inline_always)] // see `Frame::enter`
    fn leave(self, cache: &mut Cache<Id, Context>) -> Option<Context> {
        let mut frame = ManuallyDrop::new(self);
        // SAFETY: the frame is not dropped (it is in a `ManuallyDrop`), so its fields are
        // dropped or taken here only, once, the guard first, and not used after.
        let claim = unsafe {
            ManuallyDrop::drop(&mut frame.entered);
            ManuallyDrop::take(&mut frame.claim)
        };
        STORE.end_poll(claim, cache)
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // SAFETY: as in `leave`: `drop` runs once, and the fields are not used after.
        let claim = unsafe {
            ManuallyDrop::drop(&mut self.entered);
            ManuallyDrop::take(&mut self.claim)
        };
        drop_context(with_cache(|cache| STORE.end_poll(claim, cache)));
    }
}

/// Runs `f` with this thread's cache of task cells, or with an empty one during the thread's
/// teardown or while the thread's state is borrowed.
fn with_cache<R>(f: impl FnOnce(&mut Cache<Id, Context>) -> R) -> R {
    let mut f = Some(f);
    let result = LOCAL.try_with(|local| match local.try_borrow_mut() {
        Ok(mut local) => Some((f.take().expect("called once"))(&mut local.cache)),
        Err(_) => None,
    });
    match result {
        Ok(Some(result)) => result,
        _ => (f.take().expect("called once"))(&mut Cache::new()),
    }
}

thread_local! {
    /// The frames of the polls under way on this thread and the cells of the tasks it polled
    /// last, in one thread-local so that a poll reaches both with one access.
    static LOCAL: RefCell<Local> = const {
        RefCell::new(Local {
            frames: Vec::new(),
            cache: Cache::new(),
        })
    };
    /// The last task that terminated on this thread without a context in the store.
    static TERMINATED_UNKNOWN: Cell<Option<Id>> = const { Cell::new(None) };
}

/// A thread's polls under way and recently polled tasks.
struct Local {
    /// The contexts of the tasks being polled on this thread, innermost last (polls nest only
    /// through `block_in_place` and a runtime started in it).
    frames: Vec<Frame>,
    /// The cells of the tasks this thread polled last: a poll of one of them takes no lock.
    cache: Cache<Id, Context>,
}

impl Drop for Local {
    /// At the thread's teardown the frames are left innermost first, as entered guards must be.
    fn drop(&mut self) {
        while let Some(frame) = self.frames.pop() {
            let unwanted = frame.leave(&mut self.cache);
            drop_context(unwanted);
        }
        for unwanted in self.cache.clear() {
            drop_context(Some(unwanted));
        }
    }
}

/// Leaves the frames of polls that are no longer running on this thread.
///
/// tokio catches a panicking poll and runs the after-poll hook, so frames are left in order.
/// Only a panic that escapes tokio's task harness could skip that hook; the next poll on the
/// thread then finds a frame of a task that is not running here, and leaves it. A frame is
/// running when its task is the one tokio says is being polled, or encloses it.
fn leave_stale_frames() {
    let stale = LOCAL.try_with(|local| {
        let mut local = local.try_borrow_mut().ok()?;
        let frames = &mut local.frames;
        if frames.is_empty() {
            return None;
        }
        let keep = match ::tokio::task::try_id() {
            None => 0,
            Some(running) => match frames.iter().rposition(|frame| frame.id() == running) {
                Some(position) => position + 1,
                None => frames.len(),
            },
        };
        (keep < frames.len()).then(|| frames.split_off(keep))
    });
    leave(stale.ok().flatten());
}

const SHARDS: usize = 64;

static STORE: Store<Id, Context, SHARDS> = Store::new();
