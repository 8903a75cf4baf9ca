//! A differential property test of tasks and threads: random programs of set / reset / get /
//! copy / run / nested run, wrapped futures polled in random interleavings on a small manual
//! executor (each future's body is itself a program, with yield points), and threads started by
//! `contextvars::thread::spawn`, run against the library and against a reference model, checked
//! after every step.
//!
//! The model: a context is an id and a `HashMap`; the current context is the top of a stack that
//! `run` and every poll of a wrapped future push and pop; a token remembers its variable, the id
//! of its context and the old value. Tokens and contexts made anywhere (inside a future, on
//! another thread) land in one pool, so resets with the wrong variable and in the wrong context
//! come up as often as good ones.
//!
//! `CONTEXTVARS_MODEL_CASES` sets the number of cases (`.ci/run` runs many in release mode).

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{self, Poll, Waker};

use contextvars::{
    Context, ContextVar, FutureExt, ResetErrorKind, Token, WithContext, copy_context,
};
use proptest::prelude::*;

const VARS: usize = 4;
/// The variable declared `inherit(false)`: children start from its default.
const LOCAL: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Set(usize, i64),
    /// Reset the token at this index (modulo the number of tokens) on this variable.
    Reset(usize, usize),
    Get(usize),
    Copy,
    DropSaved(usize),
    /// Run these ops in the saved context at this index (modulo the number saved).
    Run(usize, Vec<Op>),
    RunNew(Vec<Op>),
    /// Make a wrapped future whose body runs these ops, yielding at each `Yield`.
    Wrap(Wrap, Vec<Op>),
    /// Poll the future at this index once (a no-op if it is finished or being polled).
    Poll(usize),
    /// Drop the future at this index unfinished.
    DropFuture(usize),
    /// Inside a future's body: return `Pending` once. Elsewhere: nothing.
    Yield,
    /// Run these ops on a thread started by `contextvars::thread::spawn`, and join it; its
    /// tokens and saved contexts come back into the pool.
    Spawn(Vec<Op>),
}

#[derive(Clone, Copy, Debug)]
enum Wrap {
    /// `with_current_context()`.
    Current,
    /// `with_context` of the saved context at this index, moved into the future.
    Saved(usize),
    /// `with_context(Context::new())`.
    New,
}

fn op() -> impl Strategy<Value = Op> {
    let leaf = prop_oneof![
        5 => (0..VARS, -3i64..3).prop_map(|(v, x)| Op::Set(v, x)),
        4 => (0..64usize, 0..VARS).prop_map(|(t, v)| Op::Reset(t, v)),
        2 => (0..VARS).prop_map(Op::Get),
        2 => Just(Op::Copy),
        1 => (0..8usize).prop_map(Op::DropSaved),
        5 => (0..8usize).prop_map(Op::Poll),
        1 => (0..8usize).prop_map(Op::DropFuture),
        4 => Just(Op::Yield),
    ];
    leaf.prop_recursive(3, 64, 8, |inner| {
        let ops = prop::collection::vec(inner, 0..8);
        let wrap = prop_oneof![
            Just(Wrap::Current),
            (0..8usize).prop_map(Wrap::Saved),
            Just(Wrap::New),
        ];
        prop_oneof![
            3 => (0..8usize, ops.clone()).prop_map(|(i, ops)| Op::Run(i, ops)),
            1 => ops.clone().prop_map(Op::RunNew),
            4 => (wrap, ops.clone()).prop_map(|(w, ops)| Op::Wrap(w, ops)),
            1 => ops.prop_map(Op::Spawn),
        ]
    })
}

static NEXT_MODEL_ID: AtomicUsize = AtomicUsize::new(1);

#[derive(Clone, Debug)]
struct ModelContext {
    id: usize,
    map: HashMap<usize, i64>,
}

impl ModelContext {
    fn new(map: HashMap<usize, i64>) -> ModelContext {
        ModelContext {
            id: NEXT_MODEL_ID.fetch_add(1, Ordering::Relaxed),
            map,
        }
    }

    /// What a child task or thread starts from.
    fn inherited(&self) -> ModelContext {
        let mut map = self.map.clone();
        map.remove(&LOCAL);
        ModelContext::new(map)
    }
}

struct ModelToken {
    var: usize,
    context: usize,
    old: Option<i64>,
}

type Vars = Arc<Vec<ContextVar<i64>>>;
type Saved = Vec<Option<(Context, ModelContext)>>;
type Tokens = Vec<Option<(Token<i64>, ModelToken)>>;

fn make_vars() -> Vars {
    Arc::new(
        (0..VARS)
            .map(|i| match i {
                0 => ContextVar::with_default("v0", || 100),
                LOCAL => ContextVar::with_default("local", || 7).inherit(false),
                _ => ContextVar::new("v"),
            })
            .collect(),
    )
}

fn default_of(var: usize) -> Option<i64> {
    match var {
        0 => Some(100),
        LOCAL => Some(7),
        _ => None,
    }
}

/// A wrapped future, its pinning kept: the body is an `async` block, which is never `Unpin`.
trait Task {
    fn poll_task(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<()>;
    fn context(&self) -> &Context;
    fn take_context(self: Pin<&mut Self>) -> Context;
}

impl<F: Future<Output = ()>> Task for WithContext<F> {
    fn poll_task(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<()> {
        self.poll(cx)
    }

    fn context(&self) -> &Context {
        WithContext::context(self)
    }

    fn take_context(self: Pin<&mut Self>) -> Context {
        std::mem::take(self.context_mut())
    }
}

enum Slot {
    Running(Pin<Box<dyn Task>>, ModelContext),
    Polling,
    Done,
}

/// Everything a program touches. Futures hold an `Rc` of it; borrows of its cells are never held
/// across a call into the library that may run a program.
struct World {
    vars: Vars,
    stack: RefCell<Vec<ModelContext>>,
    saved: RefCell<Saved>,
    tokens: RefCell<Tokens>,
    futures: RefCell<Vec<Slot>>,
}

impl World {
    fn new(vars: Vars, current: ModelContext) -> Rc<World> {
        Rc::new(World {
            vars,
            stack: RefCell::new(vec![current]),
            saved: RefCell::new(Vec::new()),
            tokens: RefCell::new(Vec::new()),
            futures: RefCell::new(Vec::new()),
        })
    }

    fn top(&self) -> ModelContext {
        self.stack
            .borrow()
            .last()
            .expect("a current context")
            .clone()
    }

    fn with_top<R>(&self, f: impl FnOnce(&mut ModelContext) -> R) -> R {
        f(self
            .stack
            .borrow_mut()
            .last_mut()
            .expect("a current context"))
    }

    fn expected(&self, var: usize) -> Option<i64> {
        self.with_top(|top| top.map.get(&var).copied())
            .or(default_of(var))
    }

    // `Option::copied` as a path is not general over the borrow's lifetime.
    #[allow(clippy::redundant_closure_for_method_calls)]
    fn check_current(&self) {
        let top = self.top();
        for var in 0..VARS {
            let real = &self.vars[var];
            let expected = top.map.get(&var).copied().or(default_of(var));
            assert_eq!(real.try_get().ok(), expected, "var {var}");
            assert_eq!(real.with(|v| v.copied()), expected, "var {var}");
            assert_eq!(real.is_set(), top.map.contains_key(&var), "var {var}");
        }
        check_context(&self.vars, &copy_context(), &top);
        let inherited = Context::inherited();
        assert!(!inherited.contains(&self.vars[LOCAL]));
        assert_eq!(
            inherited.len(),
            top.map.len() - usize::from(top.map.contains_key(&LOCAL))
        );
    }

    fn exec(self: &Rc<Self>, ops: &[Op]) {
        for op in ops {
            self.step(op);
            self.check_current();
        }
    }

    fn step(self: &Rc<Self>, op: &Op) {
        match op {
            Op::Set(var, value) => self.set(*var, *value),
            Op::Reset(index, var) => self.reset(*index, *var),
            Op::Get(var) => {
                let expected = self.expected(*var).unwrap_or(-99);
                let fallback = self.with_top(|top| top.map.get(var).copied().unwrap_or(-99));
                assert_eq!(self.vars[*var].get_or(-99), fallback);
                assert_eq!(
                    self.vars[*var].with(|v| v.copied().unwrap_or(-99)),
                    expected
                );
            }
            Op::Copy => {
                let model = ModelContext::new(self.top().map);
                self.saved.borrow_mut().push(Some((copy_context(), model)));
            }
            Op::DropSaved(index) => {
                let dropped = self
                    .saved
                    .borrow_mut()
                    .get_mut(*index)
                    .and_then(Option::take);
                drop(dropped);
            }
            Op::Run(index, ops) => {
                let Some((mut context, model)) = self.take_saved(*index) else {
                    return;
                };
                let model = self.enter(&mut context, model, ops);
                self.saved.borrow_mut().push(Some((context, model)));
            }
            Op::RunNew(ops) => {
                let mut context = Context::new();
                let model = self.enter(&mut context, ModelContext::new(HashMap::new()), ops);
                check_context(&self.vars, &context, &model);
            }
            Op::Wrap(wrap, body) => self.wrap(*wrap, body.clone()),
            Op::Poll(index) => self.poll(*index),
            Op::DropFuture(index) => {
                let len = self.futures.borrow().len();
                if len == 0 {
                    return;
                }
                let index = index % len;
                let slot = {
                    let mut futures = self.futures.borrow_mut();
                    match futures[index] {
                        Slot::Running(..) => std::mem::replace(&mut futures[index], Slot::Done),
                        _ => return,
                    }
                };
                let before = copy_context();
                drop(slot);
                assert!(copy_context().same_bindings(&before), "dropping a task");
            }
            Op::Yield => {}
            Op::Spawn(ops) => self.spawn(ops.clone()),
        }
    }

    fn set(&self, var: usize, value: i64) {
        let token = self.vars[var].set(value);
        let (context, old) = self.with_top(|top| (top.id, top.map.insert(var, value)));
        assert_eq!(token.old_value().copied(), old);
        let model = ModelToken { var, context, old };
        self.tokens.borrow_mut().push(Some((token, model)));
    }

    fn reset(&self, index: usize, var: usize) {
        let picked = {
            let mut tokens = self.tokens.borrow_mut();
            if tokens.is_empty() {
                return;
            }
            let len = tokens.len();
            tokens[index % len].take()
        };
        let Some((token, model)) = picked else {
            return;
        };
        let result = self.vars[var].reset(token);
        let current = self.top().id;
        let back = if model.var != var {
            let err = result.expect_err("a token of another variable");
            assert_eq!(err.kind(), ResetErrorKind::WrongVar);
            Some((err.into_token(), model))
        } else if model.context != current {
            let err = result.expect_err("a token of another context");
            assert_eq!(err.kind(), ResetErrorKind::WrongContext);
            Some((err.into_token(), model))
        } else {
            result.expect("a good reset");
            self.with_top(|top| match model.old {
                Some(old) => top.map.insert(var, old),
                None => top.map.remove(&var),
            });
            None
        };
        if back.is_some() {
            self.tokens.borrow_mut().push(back);
        }
    }

    fn take_saved(&self, index: usize) -> Option<(Context, ModelContext)> {
        let mut saved = self.saved.borrow_mut();
        if saved.is_empty() {
            return None;
        }
        let len = saved.len();
        saved[index % len].take()
    }

    /// Runs `ops` in `context`, checking that leaving restores the outer context exactly.
    fn enter(
        self: &Rc<Self>,
        context: &mut Context,
        model: ModelContext,
        ops: &[Op],
    ) -> ModelContext {
        let outer = copy_context();
        self.stack.borrow_mut().push(model);
        context.run(|| {
            self.check_current();
            self.exec(ops);
        });
        let inner = self.stack.borrow_mut().pop().expect("the pushed model");
        check_context(&self.vars, context, &inner);
        assert!(
            copy_context().same_bindings(&outer),
            "leaving run restores the outer context"
        );
        inner
    }

    fn wrap(self: &Rc<Self>, wrap: Wrap, body: Vec<Op>) {
        let world = Rc::clone(self);
        let future = async move {
            for op in &body {
                if let Op::Yield = op {
                    yield_once().await;
                } else {
                    world.step(op);
                    world.check_current();
                }
            }
        };
        let (task, model): (Pin<Box<dyn Task>>, ModelContext) = match wrap {
            Wrap::Current => (
                Box::pin(future.with_current_context()),
                self.top().inherited(),
            ),
            Wrap::Saved(index) => match self.take_saved(index) {
                Some((context, model)) => (Box::pin(future.with_context(context)), model),
                None => (
                    Box::pin(future.with_context(Context::new())),
                    ModelContext::new(HashMap::new()),
                ),
            },
            Wrap::New => (
                Box::pin(future.with_context(Context::new())),
                ModelContext::new(HashMap::new()),
            ),
        };
        check_context(&self.vars, task.context(), &model);
        self.futures.borrow_mut().push(Slot::Running(task, model));
    }

    /// Polls the future at `index` once; a finished future's context goes back to the pool.
    fn poll(self: &Rc<Self>, index: usize) {
        let (index, slot) = {
            let mut futures = self.futures.borrow_mut();
            if futures.is_empty() {
                return;
            }
            let index = index % futures.len();
            match futures[index] {
                Slot::Running(..) => (index, std::mem::replace(&mut futures[index], Slot::Polling)),
                _ => return,
            }
        };
        let Slot::Running(mut task, model) = slot else {
            unreachable!()
        };
        let before = copy_context();
        self.stack.borrow_mut().push(model);
        let mut cx = task::Context::from_waker(Waker::noop());
        let ready = task.as_mut().poll_task(&mut cx).is_ready();
        let model = self.stack.borrow_mut().pop().expect("the pushed model");
        assert!(
            copy_context().same_bindings(&before),
            "a poll restores the caller's context"
        );
        check_context(&self.vars, task.context(), &model);
        let slot = if ready {
            let context = task.as_mut().take_context();
            drop(task);
            self.saved.borrow_mut().push(Some((context, model)));
            Slot::Done
        } else {
            Slot::Running(task, model)
        };
        // Futures are only ever appended, so `index` still names this one.
        self.futures.borrow_mut()[index] = slot;
    }

    /// Polls every unfinished future, round robin, until all are done.
    fn drain(self: &Rc<Self>) {
        loop {
            let running: Vec<usize> = self
                .futures
                .borrow()
                .iter()
                .enumerate()
                .filter(|(_, slot)| matches!(slot, Slot::Running(..)))
                .map(|(i, _)| i)
                .collect();
            if running.is_empty() {
                return;
            }
            for index in running {
                self.poll(index);
                self.check_current();
            }
        }
    }

    fn spawn(self: &Rc<Self>, ops: Vec<Op>) {
        let vars = Arc::clone(&self.vars);
        let model = self.top().inherited();
        let (saved, tokens) = contextvars::thread::spawn(move || {
            let world = World::new(vars, model);
            world.check_current();
            world.exec(&ops);
            world.drain();
            world.check_current();
            (world.saved.take(), world.tokens.take())
        })
        .join()
        .expect("the thread's program passes");
        self.saved.borrow_mut().extend(saved);
        self.tokens.borrow_mut().extend(tokens);
    }

    /// Finishes every future, then breaks the cycle futures -> world.
    fn finish(self: &Rc<Self>) {
        self.drain();
        let futures = self.futures.take();
        drop(futures);
    }
}

fn check_context(vars: &Vars, context: &Context, model: &ModelContext) {
    assert_eq!(context.len(), model.map.len(), "{model:?}");
    for (var, real) in vars.iter().enumerate() {
        assert_eq!(context.get(real), model.map.get(&var).copied(), "var {var}");
    }
}

use contextvars_tests::yield_once;

use yield_once::yield_once;

fn run_program(ops: &[Op]) {
    Context::new().run(|| {
        let world = World::new(make_vars(), ModelContext::new(HashMap::new()));
        world.check_current();
        world.exec(ops);
        world.finish();
        world.check_current();
    });
}

use contextvars_tests::cases;

proptest! {
    #![proptest_config(cases::config(300))]

    #[test]
    fn tasks_and_threads_match_the_reference_model(ops in prop::collection::vec(op(), 0..40)) {
        run_program(&ops);
    }
}
