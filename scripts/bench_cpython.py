#!/usr/bin/env python3
"""Times CPython's own contextvars for the operations benches/core.rs measures.

Each case runs in its own Context holding a known number of variables (the whole timeit loop
runs inside ``ctx.run``), like the Rust fixtures. Figures are ns per operation, raw: they include
timeit's loop overhead (the ``loop_pass`` row, ~6 ns) and Python's method-call dispatch, which is
what a Python caller pays. Each case: ``repeat`` timing runs of ``number`` loops (``number``
chosen so one run takes about ``--target-ms``); the JSON keeps every run, the median and the min.
The ``asyncio_task_*`` cases time spawn + run + join of 20,000 asyncio tasks (``ensure_future``
+ ``gather`` on one event loop), ns per task, 5 runs after a warm-up run.

Usage: bench_cpython.py OUT.json [--repeat 7] [--target-ms 40] [--quick]
"""

import argparse
import asyncio
import contextvars
import gc
import json
import platform
import statistics
import sys
import time
import timeit

SIZES = [1, 8, 64, 1024, 10_000, 100_000]


def make_context(n):
    """A fresh Context binding exactly n new variables; returns (ctx, vars)."""
    cvars = [contextvars.ContextVar(f"v{i}") for i in range(n)]
    ctx = contextvars.Context()

    def fill():
        for i, var in enumerate(cvars):
            var.set(i)

    ctx.run(fill)
    assert len(ctx) == n
    return ctx, cvars


def calibrate(timer, target_s):
    number = 1
    while True:
        t = timer.timeit(number)
        if t >= target_s / 10:
            return max(1, int(number * target_s / t))
        number *= 10


def time_case(stmt, env, *, per=1, ctx=None, repeat=7, target_s=0.04):
    """ns per operation of `stmt` (which does `per` operations), inside `ctx` if given."""
    timer = timeit.Timer(stmt, globals=env)
    run = (lambda f, *a: ctx.run(f, *a)) if ctx is not None else (lambda f, *a: f(*a))
    number = run(calibrate, timer, target_s)
    runs = [run(timer.timeit, number) / number / per * 1e9 for _ in range(repeat)]
    return {
        "stmt": stmt,
        "number": number,
        "runs_ns": runs,
        "median_ns": statistics.median(runs),
        "min_ns": min(runs),
    }


ASYNCIO_TASKS = 20_000

# The task bodies of the asyncio cases; TASK_VAR is set in the spawner's context, so every task
# starts with it bound in its copy (as the Rust `ours` contender's VALUE is).
TASK_VAR = contextvars.ContextVar("task_var")


async def task_bare():
    return 7


async def task_get():
    return TASK_VAR.get()


async def task_set_get():
    TASK_VAR.set(8)
    return TASK_VAR.get()


async def spawn_gather(body, n):
    """n tasks of `body` (each create_task copies the current context), all joined by gather."""
    await asyncio.gather(*[asyncio.ensure_future(body()) for _ in range(n)])


def time_asyncio(body, *, n=ASYNCIO_TASKS, repeat=5):
    """ns per task of spawn (ensure_future) + run + join (gather) of n tasks on one event loop.

    One warm-up run, then `repeat` timed runs; the collector is off while timing, as timeit does.
    """
    loop = asyncio.new_event_loop()
    token = TASK_VAR.set(7)
    try:
        loop.run_until_complete(spawn_gather(body, n))
        runs = []
        for _ in range(repeat):
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                loop.run_until_complete(spawn_gather(body, n))
                runs.append((time.perf_counter() - t0) / n * 1e9)
            finally:
                gc.enable()
    finally:
        TASK_VAR.reset(token)
        loop.close()
    return {
        "stmt": f"run_until_complete(gather(*[ensure_future({body.__name__}()) for _ in range({n})]))",
        "number": n,
        "runs_ns": runs,
        "median_ns": statistics.median(runs),
        "min_ns": min(runs),
    }


def measure_memory(sizes):
    """tracemalloc bytes held by a Context per variable, and by a snapshot diverged by one set.

    Values included, as on the Rust side (whose u64 values each live in an allocation): every
    value is an int made while tracing (above the small-int cache, so each is a new object).
    Variables and the Context existed before. Like the Rust figures, pymalloc's own overhead is
    not included.
    """
    import tracemalloc

    big = 1 << 40
    rows = []
    for n in sizes:
        cvars = [contextvars.ContextVar(f"v{i}") for i in range(n)]
        ctx = contextvars.Context()

        def fill():
            for i, var in enumerate(cvars):
                var.set(big + i)

        def set_one():
            cvars[n // 2].set(big + n)

        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        ctx.run(fill)
        bound = tracemalloc.get_traced_memory()[0]
        snapshot = ctx.copy()
        with_snapshot = tracemalloc.get_traced_memory()[0]
        ctx.run(set_one)
        after_one_set = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        rows.append({
            "n": n,
            "bytes_per_var": (bound - base) / n,
            "snapshot_bytes": with_snapshot - bound,
            "snapshot_after_one_set_bytes": after_one_set - bound,
        })
        del snapshot, ctx
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--target-ms", type=float, default=40.0)
    ap.add_argument("--quick", action="store_true", help="sizes 1 and 64 only")
    args = ap.parse_args()
    kw = {"repeat": args.repeat, "target_s": args.target_ms / 1000}
    sizes = [1, 64] if args.quick else SIZES
    results = {}
    started = time.time()

    def case(name, stmt, env, **extra):
        results[name] = time_case(stmt, env, **kw, **extra)
        r = results[name]
        print(f"  {name:28s} {r['median_ns']:9.1f} ns (min {r['min_ns']:.1f})", file=sys.stderr)

    # Baselines.
    f = lambda: None  # noqa: E731
    case("loop_pass", "pass", {})
    case("py_call_f", "f()", {"f": f})

    # get: a context of 8 variables, `v` among them; `d` has a default and is unbound there
    # but was set in another context (as the Rust bench does; it makes no difference here).
    ctx8, vars8 = make_context(8)
    v = vars8[4]
    d = contextvars.ContextVar("d", default=0)
    contextvars.Context().run(d.set, 1)
    s = contextvars.ContextVar("s")
    ctx8.run(s.set, "value")  # a str: Python's Arc<str>
    env = {"v": v, "d": d, "s": s}
    case("var_get_set", "v.get()", env, ctx=ctx8)
    case("var_get_set_str", "s.get()", env, ctx=ctx8)
    case("var_get_default_ctor", "d.get()", env, ctx=ctx8)
    case("var_get_default_arg", "v2.get(7)", {"v2": contextvars.ContextVar("v2")}, ctx=ctx8)

    # ctx.run overhead: compare py_call_f.
    case("ctx_run_f", "ctx.run(f)", {"ctx": ctx8, "f": f})

    for n in sizes:
        ctx, cvars = make_context(n)
        var = cvars[n // 2]
        a, b = object(), object()
        env = {"v": var, "a": a, "b": b, "ctx": ctx, "copy_context": contextvars.copy_context}
        # Values alternate so every set really changes the map (setting the identical object
        # is a cheaper path in CPython's HAMT).
        case(f"var_get_n{n}", "v.get()", env, ctx=ctx)
        case(f"var_set_n{n}", "v.set(a)\nv.set(b)", env, per=2, ctx=ctx)
        # `v` holds `b` here (the case above ends with it): the set binds `a`, the reset puts
        # `b` back, two real writes. Setting the object already bound is a cheaper path.
        ctx.run(var.set, b)
        case(f"var_set_reset_n{n}", "v.reset(v.set(a))", env, ctx=ctx)
        case(f"copy_context_n{n}", "copy_context()", env, ctx=ctx)
        # The per-request path: a snapshot, then a set (CPython's set path-copies either way).
        # The report subtracts copy_context_n{n}.
        case(f"copy_then_set_n{n}", "copy_context(); v.set(a)\ncopy_context(); v.set(b)", env,
             per=2, ctx=ctx)
        case(f"ctx_getitem_n{n}", "ctx[v]", env)
        del ctx, cvars

    # reset_module! of 16 variables: Python has no such thing, so 16 sets of 16 variables
    # (each var.set in a context holding those 16).
    ctx16, vars16 = make_context(16)
    env = {f"v{i}": var for i, var in enumerate(vars16)}
    env["a"], env["b"] = object(), object()
    stmt = "\n".join([f"v{i}.set(a)" for i in range(16)] + [f"v{i}.set(b)" for i in range(16)])
    case("set_16", stmt, env, per=2, ctx=ctx16)

    # asyncio: per task, spawn + run + join (benches/spawn.rs is the Rust counterpart).
    for name, body in [("asyncio_task_bare", task_bare), ("asyncio_task_var_get", task_get),
                       ("asyncio_task_var_set_get", task_set_get)]:
        results[name] = time_asyncio(body)
        r = results[name]
        print(f"  {name:28s} {r['median_ns']:9.1f} ns per task (min {r['min_ns']:.1f})", file=sys.stderr)

    memory = measure_memory([1, 64, 10_000, 100_000])
    for row in memory:
        print(f"  memory n={row['n']}: {row['bytes_per_var']:.1f} B/var, snapshot {row['snapshot_bytes']} B, "
              f"snapshot after 1 set {row['snapshot_after_one_set_bytes']} B", file=sys.stderr)

    doc = {
        "python": platform.python_implementation() + " " + platform.python_version(),
        "executable": sys.executable,
        "repeat": args.repeat,
        "target_ms": args.target_ms,
        "seconds": round(time.time() - started, 1),
        "results": results,
        "memory": memory,
    }
    with open(args.out, "w") as fh:
        json.dump(doc, fh, indent=1)
    print(f"wrote {args.out} ({doc['seconds']} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
