//! A differential property test: random programs of set / reset / get / copy / run / nested run
//! run against the library and against a reference model (a context is a `HashMap`, the thread's
//! current context is swapped in and out by `run`), checked after every step.

use std::collections::HashMap;

use contextvars::{Context, ContextVar, ResetErrorKind, copy_context};
use proptest::prelude::*;

const VARS: usize = 4;

#[derive(Clone, Debug)]
enum Op {
    Set(usize, i64),
    /// Reset the token at this index (modulo the number of tokens) on this variable.
    Reset(usize, usize),
    Get(usize),
    Copy,
    /// Run these ops in the saved context at this index (modulo the number saved).
    Run(usize, Vec<Op>),
    /// Run these ops in a fresh empty context.
    RunNew(Vec<Op>),
    DropSaved(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let leaf = prop_oneof![
        4 => (0..VARS, -3i64..3).prop_map(|(v, x)| Op::Set(v, x)),
        3 => (0..64usize, 0..VARS).prop_map(|(t, v)| Op::Reset(t, v)),
        2 => (0..VARS).prop_map(Op::Get),
        1 => Just(Op::Copy),
        1 => (0..8usize).prop_map(Op::DropSaved),
    ];
    leaf.prop_recursive(3, 48, 8, |inner| {
        prop_oneof![
            (0..8usize, prop::collection::vec(inner.clone(), 0..8))
                .prop_map(|(i, ops)| Op::Run(i, ops)),
            prop::collection::vec(inner, 0..8).prop_map(Op::RunNew),
        ]
    })
}

#[derive(Clone, Debug, Default)]
struct ModelContext {
    id: usize,
    map: HashMap<usize, i64>,
}

struct ModelToken {
    var: usize,
    context: usize,
    old: Option<i64>,
}

struct Harness {
    vars: Vec<ContextVar<i64>>,
    current: ModelContext,
    saved: Vec<Option<(Context, ModelContext)>>,
    tokens: Vec<Option<(contextvars::Token<i64>, ModelToken)>>,
    next_id: usize,
}

impl Harness {
    fn new() -> Harness {
        let vars = (0..VARS)
            .map(|i| {
                if i == 0 {
                    ContextVar::with_default("v0", || 100)
                } else {
                    ContextVar::new("v")
                }
            })
            .collect();
        Harness {
            vars,
            current: ModelContext::default(),
            saved: Vec::new(),
            tokens: Vec::new(),
            next_id: 1,
        }
    }

    fn fresh_id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    fn expected(&self, var: usize) -> Option<i64> {
        self.current
            .map
            .get(&var)
            .copied()
            .or((var == 0).then_some(100))
    }

    fn check_current(&self) {
        for var in 0..VARS {
            assert_eq!(
                self.vars[var].try_get().ok(),
                self.expected(var),
                "var {var}"
            );
            assert_eq!(self.vars[var].is_set(), self.current.map.contains_key(&var));
        }
        let snapshot = copy_context();
        assert_eq!(snapshot.len(), self.current.map.len());
        for (var, value) in &self.current.map {
            assert_eq!(snapshot.get(&self.vars[*var]), Some(*value));
        }
    }

    fn exec(&mut self, ops: &[Op]) {
        for op in ops {
            self.step(op);
            self.check_current();
        }
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Set(var, value) => {
                let token = self.vars[*var].set(*value);
                let old = self.current.map.insert(*var, *value);
                assert_eq!(token.old_value().copied(), old);
                let model = ModelToken {
                    var: *var,
                    context: self.current.id,
                    old,
                };
                self.tokens.push(Some((token, model)));
            }
            Op::Reset(index, var) => {
                if self.tokens.is_empty() {
                    return;
                }
                let index = index % self.tokens.len();
                let Some((token, model)) = self.tokens[index].take() else {
                    return;
                };
                let result = self.vars[*var].reset(token);
                if model.var != *var {
                    let err = result.unwrap_err();
                    assert_eq!(err.kind(), ResetErrorKind::WrongVar);
                    self.tokens[index] = Some((err.into_token(), model));
                } else if model.context != self.current.id {
                    let err = result.unwrap_err();
                    assert_eq!(err.kind(), ResetErrorKind::WrongContext);
                    self.tokens[index] = Some((err.into_token(), model));
                } else {
                    result.unwrap();
                    match model.old {
                        Some(old) => self.current.map.insert(*var, old),
                        None => self.current.map.remove(var),
                    };
                }
            }
            Op::Get(var) => {
                assert_eq!(
                    self.vars[*var].get_or(-99),
                    self.current.map.get(var).copied().unwrap_or(-99)
                );
            }
            Op::Copy => {
                let model = ModelContext {
                    id: self.fresh_id(),
                    map: self.current.map.clone(),
                };
                self.saved.push(Some((copy_context(), model)));
            }
            Op::DropSaved(index) => {
                if let Some(slot) = self.saved.get_mut(*index) {
                    *slot = None;
                }
            }
            Op::Run(index, ops) => {
                if self.saved.is_empty() {
                    return;
                }
                let index = index % self.saved.len();
                let Some((mut context, model)) = self.saved[index].take() else {
                    return;
                };
                let model = self.enter(&mut context, model, ops);
                self.saved[index] = Some((context, model));
            }
            Op::RunNew(ops) => {
                let model = ModelContext {
                    id: self.fresh_id(),
                    map: HashMap::new(),
                };
                let mut context = Context::new();
                let model = self.enter(&mut context, model, ops);
                assert_eq!(context.len(), model.map.len());
            }
        }
    }

    fn enter(&mut self, context: &mut Context, model: ModelContext, ops: &[Op]) -> ModelContext {
        let outer = std::mem::replace(&mut self.current, model);
        let outer_snapshot = copy_context();
        context.run(|| {
            self.check_current();
            self.exec(ops);
        });
        let inner = std::mem::replace(&mut self.current, outer);
        for (var, value) in &inner.map {
            assert_eq!(context.get(&self.vars[*var]), Some(*value));
        }
        assert_eq!(context.len(), inner.map.len());
        assert!(
            copy_context().same_bindings(&outer_snapshot),
            "leaving restores the outer context"
        );
        inner
    }
}

use contextvars_tests::cases;

proptest! {
    #![proptest_config(cases::config(2_000))]

    #[test]
    #[cfg_attr(debug_assertions, ignore = "slow in a debug build: .ci/run runs it in release mode")]
    fn library_matches_the_reference_model(ops in prop::collection::vec(op(), 0..40)) {
        Context::new().run(|| {
            let mut harness = Harness::new();
            harness.check_current();
            harness.exec(&ops);
        });
    }
}
