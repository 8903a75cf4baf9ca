//! Every task of a runtime in its own context, through tokio's task hooks.
//!
//! The spawn hook runs on the spawning thread, inside the spawner's context: it takes
//! [`Context::inherited`] there and files it under the new task's [`Id`]. Around every poll, the
//! before-poll hook takes the task's context out of the store and enters it on the polling
//! thread, and the after-poll hook leaves it and files it back; the terminate hook drops it.
//!
//! The store is a fixed array of mutex-guarded maps, sharded by task id, so that workers
//! polling different tasks rarely meet on a lock. While a task is being polled its slot says
//! [`Slot::Polling`] and the context lives on the polling thread's frame stack, at a fixed heap
//! address that the thread's current-context pointer may point to. A task that terminates while
//! being polled (it returned, or a poll found it cancelled) is marked [`Slot::Terminated`] and
//! its context is dropped by the after-poll hook, after the thread has left it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard, PoisonError};

use ::tokio::runtime::{Builder, TaskMeta};
use ::tokio::task::Id;

use contextvars_core::__private::{Entered, enter};

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
/// - Not sound as a memory bound: a task spawned from one thread while another thread shuts the
///   runtime down can be terminated there before its spawn hook runs here; its context is then
///   filed after the task is gone and kept until the process exits. No task ever sees it.
/// - Every poll of a task costs two uncontended lock operations on the store.
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
    let context = Box::new(Context::inherited());
    let replaced = shard(id).insert(id, Slot::Idle(context));
    drop(replaced);
}

/// The before-poll hook of [`inherit_on_spawn`]: enters the task's context on this thread.
#[cfg_attr(docsrs, doc(cfg(all(feature = "tokio", tokio_unstable))))]
pub fn on_before_task_poll(meta: &TaskMeta<'_>) {
    let id = meta.id();
    leave_stale_frames();
    let context = {
        let mut map = shard(id);
        match map.insert(id, Slot::Polling) {
            Some(Slot::Idle(context)) => Some(context),
            Some(Slot::Terminated) => {
                map.insert(id, Slot::Terminated);
                return;
            }
            Some(Slot::Polling) | None => None,
        }
    };
    // A task the spawn hook did not see still gets a context of its own.
    let context = Box::into_raw(context.unwrap_or_default());
    // SAFETY: `context` comes from `Box::into_raw` and is turned back into a box only by
    // `Frame::leave`, after this guard is dropped. Until then nothing else reaches it: its slot
    // in the store says `Polling`, and the frame that owns it stays on this thread.
    let entered: Entered<'static> = unsafe { enter(&mut *context) };
    let mut frame = Some(Frame {
        id,
        context,
        entered,
    });
    let _ = FRAMES.try_with(|frames| frames.borrow_mut().extend(frame.take()));
    // A poll during the thread's teardown, when its frame stack is gone, runs in the thread's
    // context rather than leave the task's context entered with no way out.
    if let Some(frame) = frame {
        frame.leave();
    }
}

/// The after-poll hook of [`inherit_on_spawn`]: leaves the task's context and files it back.
#[cfg_attr(docsrs, doc(cfg(all(feature = "tokio", tokio_unstable))))]
pub fn on_after_task_poll(meta: &TaskMeta<'_>) {
    let id = meta.id();
    let popped = FRAMES.try_with(|frames| {
        let mut frames = frames.borrow_mut();
        let position = frames.iter().rposition(|frame| frame.id == id)?;
        Some(frames.split_off(position))
    });
    // Frames above the task's own belong to polls whose after-poll hook never ran: leave them
    // first, innermost first.
    for frame in popped.ok().flatten().into_iter().flatten().rev() {
        frame.leave();
    }
}

/// The terminate hook of [`inherit_on_spawn`]: drops the task's context.
#[cfg_attr(docsrs, doc(cfg(all(feature = "tokio", tokio_unstable))))]
pub fn on_task_terminate(meta: &TaskMeta<'_>) {
    let id = meta.id();
    let removed = {
        let mut map = shard(id);
        match map.get_mut(&id) {
            Some(slot @ Slot::Polling) => {
                *slot = Slot::Terminated;
                None
            }
            Some(Slot::Idle(_)) => map.remove(&id),
            Some(Slot::Terminated) | None => {
                TERMINATED_UNKNOWN.with(|last| last.set(Some(id)));
                None
            }
        }
    };
    // Dropped with no lock held: values' destructors may spawn tasks.
    drop(removed);
}

/// Where a task's context is.
enum Slot {
    /// Between polls: the store owns it.
    Idle(Box<Context>),
    /// A thread is polling the task and holds its context on its frame stack.
    Polling,
    /// The task ended while being polled; the polling thread drops the context.
    Terminated,
}

/// A task's context entered on this thread for the length of one poll.
struct Frame {
    id: Id,
    context: *mut Context,
    entered: Entered<'static>,
}

impl Frame {
    /// Leaves the context and files it back, or drops it if the task ended.
    fn leave(self) {
        drop(self.entered);
        // SAFETY: `context` came from `Box::into_raw` in `on_before_task_poll`, and the guard
        // that pointed the thread at it is gone.
        let context = unsafe { Box::from_raw(self.context) };
        let unwanted = {
            let mut map = shard(self.id);
            match map.get_mut(&self.id) {
                Some(slot @ Slot::Polling) => {
                    *slot = Slot::Idle(context);
                    None
                }
                Some(Slot::Terminated) => {
                    map.remove(&self.id);
                    Some(context)
                }
                Some(Slot::Idle(_)) | None => Some(context),
            }
        };
        drop(unwanted);
    }
}

thread_local! {
    /// The contexts of the tasks being polled on this thread, innermost last (polls nest only
    /// through `block_in_place` and a runtime started in it).
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
    /// The last task that terminated on this thread without a context in the store.
    static TERMINATED_UNKNOWN: Cell<Option<Id>> = const { Cell::new(None) };
}

/// Leaves the frames of polls that are no longer running on this thread.
///
/// tokio catches a panicking poll and runs the after-poll hook, so frames are left in order.
/// Only a panic that escapes tokio's task harness could skip that hook; the next poll on the
/// thread then finds a frame of a task that is not running here, and leaves it. A frame is
/// running when its task is the one tokio says is being polled, or encloses it.
fn leave_stale_frames() {
    let stale = FRAMES.try_with(|frames| {
        let mut frames = frames.borrow_mut();
        let keep = match ::tokio::task::try_id() {
            None => 0,
            Some(running) => match frames.iter().rposition(|frame| frame.id == running) {
                Some(position) => position + 1,
                None => frames.len(),
            },
        };
        (keep < frames.len()).then(|| frames.split_off(keep))
    });
    for frame in stale.ok().flatten().into_iter().flatten().rev() {
        frame.leave();
    }
}

const SHARDS: usize = 64;

type Shard = Mutex<HashMap<Id, Slot, BuildHasherDefault<IdHasher>>>;

static STORE: [Shard; SHARDS] =
    [const { Mutex::new(HashMap::with_hasher(BuildHasherDefault::new())) }; SHARDS];

fn hash(id: Id) -> u64 {
    let mut hasher = IdHasher::default();
    std::hash::Hash::hash(&id, &mut hasher);
    hasher.finish()
}

/// The locked shard of `id`. No code that can panic or call user code runs under the lock;
/// a poisoned lock is still used.
fn shard(id: Id) -> MutexGuard<'static, HashMap<Id, Slot, BuildHasherDefault<IdHasher>>> {
    // The top bits of the product spread consecutive ids over the shards.
    #[allow(clippy::cast_possible_truncation)] // six bits
    let index = (hash(id) >> 58) as usize;
    STORE[index].lock().unwrap_or_else(PoisonError::into_inner)
}

/// Task ids are distinct integers from a counter: a multiplication is hash enough.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0 ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}
