#!/usr/bin/env python3
"""One markdown table from a criterion run of benches/{core,poll,spawn}.rs and CPython timings of
the same run.

Reads every ``<criterion dir>/**/new/{benchmark,estimates}.json`` (median point estimate, ns),
one or more JSON files written by ``bench_cpython.py`` (passes of the same run), and optionally
the table printed by ``benches/memory.rs``. Writes markdown to ``--out``.

Usage: bench_report.py --criterion DIR --cpython a.json [b.json ...] [--memory memory.md]
                       [--meta key=value ...] --out report.md
"""

import argparse
import glob
import json
import os

SIZES = [1, 8, 64, 1024, 10_000, 100_000]

# Peer columns of the table, in order.
PEERS = [
    ("tls", "thread_local!"),
    ("tokio", "tokio task_local!"),
    ("otel", "opentelemetry Context"),
    ("arc", "std Arc"),
]


def diff(a, b):
    """A derived figure: a − b (both bench ids / CPython keys)."""
    return ("diff", a, b)


def best(*ids):
    """The fastest of several variants of one peer."""
    return ("best",) + ids


# Tasks per iteration of benches/spawn.rs (its `TASKS`): criterion times one iteration.
SPAWN_TASKS = 100_000


def per_task(bench_id):
    """A benches/spawn.rs figure (one iteration = SPAWN_TASKS tasks), per task."""
    return ("scale", bench_id, 1 / SPAWN_TASKS)


def row(op, size, ours, cpython=None, target=None, note="", **peers):
    """target: (text, threshold in ns or a list of thresholds (all judged), or None)."""
    return {"op": op, "size": size, "ours": ours, "cpython": cpython, "target": target,
            "note": note, "peers": peers, "main": False}


def mrow(*args, **kwargs):
    """A row that also goes into the summary table (the one the README shows)."""
    r = row(*args, **kwargs)
    r["main"] = True
    return r


def rows():
    out = []
    # get: a context of 8 bindings.
    out += [
        mrow("get: `with` borrow, u64", 8, "get/ours.with_u64", "var_get_set", ("≤ 2 (borrowed)", 2),
            tls="get/tls.refcell_with_u64", tokio="get/tokio.with_u64", otel="get/otel.map_current_with_u64"),
        mrow("get: owned `get()`, u64", 8, "get/ours.get_u64", "var_get_set", ("≤ 5 (owned u64)", 5),
            tls="get/tls.cell_get_u64", tokio="get/tokio.get_u64",
            otel=best("get/otel.current_get_u64", "get/otel.map_current_with_u64")),
        mrow("get: `with` borrow, Arc<str> (len)", 8, "get/ours.with_arc_str", "var_get_set_str",
            ("≤ 2 (borrowed)", 2),
            tls="get/tls.refcell_with_arc_str", tokio="get/tokio.with_arc_str",
            otel="get/otel.map_current_with_arc_str"),
        mrow("get: owned `get()`, Arc<str> (clone)", 8, "get/ours.get_arc_str", "var_get_set_str",
            ("— (an owned Arc costs ~16 ns of refcount here)", None),
            tls="get/tls.refcell_get_arc_str", tokio="get/tokio.get_arc_str",
            otel=best("get/otel.current_get_arc_str", "get/otel.map_current_get_arc_str")),
        row("get default: `with`, u64", 8, "get/ours.default_with_u64", "var_get_default_ctor",
            ("≤ 2 (≤ get)", 2),
            tokio="get/tokio.try_with_outside_scope_u64", otel="get/otel.map_current_missing_u32"),
        row("get default: owned `get()`, u64", 8, "get/ours.default_get_u64", "var_get_default_ctor",
            ("≤ 5 (≤ get)", 5),
            tokio="get/tokio.try_with_outside_scope_u64", otel="get/otel.map_current_missing_u32"),
        row("get default: owned `get()`, Arc<str>", 8, "get/ours.default_get_arc_str", "var_get_default_ctor",
            ("—", None)),
        row("get default: var never set anywhere, u64", 8, "get/ours.default_never_set_get_u64",
            "var_get_default_ctor", ("≤ 5 (≤ get)", 5),
            note="no key yet: skips the map"),
    ]
    for n in SIZES:
        out.append(row("get: `with` u64, by context size", n, f"get_sized/ours.with_u64/{n}", f"var_get_n{n}",
                       ("≤ 2 (≤ 5 to N=64, ≤ 12 at 10k uncached)", 2),
                       note="CPython: cached get"))
    for n in SIZES:
        out.append(mrow("set, no snapshot alive (in place)", n, f"set/ours.set_in_place/{n}", f"var_set_n{n}",
                       ("≤ 20 (in place)", 20),
                       tls="set/tls.refcell_store_u64", otel="set/otel.current_with_value_attach_drop_u64",
                       note="CPython always path-copies"))
    for n in SIZES:
        tgt = {1: ("≤ 40 (8 vars, snapshot alive)", 40), 8: ("≤ 40 (8 vars, snapshot alive)", 40),
               100_000: ("≤ 250 (100,000 vars)", 250)}.get(n, ("—", None))
        out.append(mrow("set, snapshot alive = (copy+set) − copy", n,
                       diff(f"set/ours.copy_then_set/{n}", f"set/ours.copy_only/{n}"),
                       diff(f"copy_then_set_n{n}", f"copy_context_n{n}"), tgt,
                       tls="set/tls.refcell_store_u64", otel="set/otel.current_with_value_attach_drop_u64",
                       note=("raw", f"set/ours.copy_then_set/{n}", f"set/ours.copy_only/{n}")))
    for n in SIZES:
        out.append(mrow("set + reset (no snapshot)", n, f"set_reset/ours.set_reset/{n}", f"var_set_reset_n{n}",
                       ("≤ 60", 60),
                       tls="set_reset/tls.refcell_store_restore_u64", tokio="set_reset/tokio.sync_scope_u64"))
    for n in SIZES:
        out.append(mrow("copy_context", n, f"copy_context/ours.copy_context/{n}", f"copy_context_n{n}",
                       ("≤ 16, flat", 16),
                       otel="copy_context/otel.current", arc="copy_context/model.arc_clone_drop"))
    out += [
        mrow("Context::run overhead (run − bare call)", None, diff("run/ours.run_empty", "run/bare.call_empty"),
            diff("ctx_run_f", "py_call_f"), ("≤ 3", 3),
            tokio=diff("run/tokio.sync_scope_u64", "run/bare.call_empty")),
        row("Context::run of an empty closure (raw)", None, "run/ours.run_empty", "ctx_run_f", ("—", None),
            tokio="run/tokio.sync_scope_u64", note=("bare", "run/bare.call_empty", None)),
    ]
    for n in SIZES:
        tgt = ("≤ 10 (N ≤ 1024)", 10) if n <= 1024 else ("—", None)
        mk = mrow if n in (8, 100_000) else row
        out.append(mk("ctx.get(&VAR) (not current)", n, f"ctx_get/ours.ctx_get_u64/{n}", f"ctx_getitem_n{n}",
                       tgt, otel="ctx_get/otel.cx_get_u64"))
    # benches/poll.rs: one poll of an always-pending future with a no-op waker.
    out += [
        mrow("one poll of a wrapped future: overhead over bare", None, diff("poll/ours", "poll/bare"),
             diff("ctx_run_f", "py_call_f"), ("≤ 4 (before: ≤ 5)", [4, 5]),
             tokio=diff("poll/tokio", "poll/bare"), otel=diff("poll/otel", "poll/bare"),
             note=("bare", "poll/bare", "CPython: ctx.run overhead, what asyncio pays per task step")),
        row("one poll of a wrapped future (raw)", None, "poll/ours", None, ("—", None),
            tls="poll/bare", tokio="poll/tokio", otel="poll/otel",
            note="thread_local! column: the bare future"),
        row("one poll reading a u64 inside it (raw)", None, "poll_read/ours", None, ("—", None),
            tokio="poll_read/tokio", otel="poll_read/otel",
            note=("bare", "poll/bare", "ours: VALUE.get(); otel: map_current")),
    ]
    # benches/spawn.rs: spawn + run + join of 100,000 tasks on a current-thread runtime, per task.
    out += [
        mrow("per task: spawn + run + join, over bare tokio::spawn", None,
             diff(per_task("spawn100k/ours"), per_task("spawn100k/bare")),
             None, ("≤ 40 (before: ≤ 50)", [40, 50]),
             tokio=diff(per_task("spawn100k/tokio"), per_task("spawn100k/bare")),
             otel=diff(per_task("spawn100k/otel"), per_task("spawn100k/bare")),
             note=("bare", per_task("spawn100k/bare"),
                   "CPython: no figure, asyncio's var.get adds ~20 ns to a ~5 µs task, far inside "
                   "its run-to-run spread; both asyncio figures are in the every-case table")),
        mrow("per task: spawn + run + join (raw)", None, per_task("spawn100k/ours"), "asyncio_task_var_get",
             ("—", None), tls=per_task("spawn100k/bare"), tokio=per_task("spawn100k/tokio"),
             otel=per_task("spawn100k/otel"),
             note="100,000 tasks, each reads its context once; thread_local! column: bare tokio::spawn; "
                  "CPython: asyncio create_task + gather, task does var.get()"),
        row("per task: asyncio var.set + var.get (CPython only)", None, None, "asyncio_task_var_set_get",
            ("—", None), note="asyncio reference; bare asyncio task in the every-case table"),
    ]
    out += [
        mrow("reset_module! of 16 vars", 16, "reset_module/ours.reset_module_16", "set_16", ("≤ 500", 500),
            note="CPython: 16 var.set()"),
        row("16 plain sets (declared vars)", 16, "reset_module/ours.set_16", "set_16", ("—", None)),
    ]
    return out


# The goals, each against a peer measured in this run:
# (what, ours spec, peer kind, peer spec, goal, goal kind). Peer kinds: "cpython" (the faster
# pass), "rust" (a criterion id), "abs" (an absolute figure in ns: a target for that row).
# Goal kinds: "ratio" (ours / peer <= goal), "over" (ours - peer <= goal ns).
def goals():
    return [
        ("owned `get` of a u64 (vs tokio task_local `get`)", "get/ours.get_u64", "rust",
         "get/tokio.get_u64", 2.0, "ratio"),
        ("`set`, no snapshot alive, 8 variables (vs CPython `v.set`)", "set/ours.set_in_place/8", "cpython",
         "var_set_n8", 0.25, "ratio"),
        ("`set` + `reset`, 8 variables (vs CPython `v.reset(v.set(a))`, `v` holding `b`)", "set_reset/ours.set_reset/8",
         "cpython", "var_set_reset_n8", 0.25, "ratio"),
        ("`set` right after a snapshot, 8 variables ((copy+set) − copy, both sides)",
         diff("set/ours.copy_then_set/8", "set/ours.copy_only/8"), "cpython",
         diff("copy_then_set_n8", "copy_context_n8"), 0.35, "ratio"),
    ]


# Rows measured by the integration benches (criterion ids), in the same goals table.
def integration_goals():
    return [
        ("one request through `ContextLayer` (reset 2, set 2 from headers), in process, over the bare "
         "handler", "request/ours", "request/bare", 100.0, "over"),
        ("one poll under `inherit_on_spawn` (vs plain tokio::spawn), per 10,000 polls",
         "poll10k/hooked", "poll10k/plain", 1.1, "ratio"),
        ("`par_iter().with_current_context()` of 10,000 trivial items, 2 threads (vs plain par_iter)",
         "rayon10k/ours", "rayon10k/plain", 1.1, "ratio"),
    ]


# Earlier goals, still judged in every run.
def earlier_goals():
    out = []
    for n, goal in [(10_000, 0.6), (100_000, 0.7)]:
        out.append((f"set right after a snapshot, N={n:,}",
                    diff(f"set/ours.copy_then_set/{n}", f"set/ours.copy_only/{n}"),
                    "cpython", diff(f"copy_then_set_n{n}", f"copy_context_n{n}"), goal, "ratio"))
    out += [
        ("copy_context, N=8 (vs the target, 16 ns)", "copy_context/ours.copy_context/8", "abs", 16.0, 1.0,
         "ratio"),
        ("copy_context, N=100,000 (vs the target, 16 ns)", "copy_context/ours.copy_context/100000", "abs",
         16.0, 1.0, "ratio"),
        ("Context::run overhead (vs the target, 3 ns)", diff("run/ours.run_empty", "run/bare.call_empty"),
         "abs", 3.0, 1.0, "ratio"),
        ("one poll, overhead over bare (vs the target, 4 ns)", diff("poll/ours", "poll/bare"), "abs", 4.0,
         1.0, "ratio"),
    ]
    return out


def load_memory(path):
    """{N: (bytes per variable, snapshot after one set)} from the table benches/memory.rs prints."""
    found = {}
    if not path or not os.path.exists(path):
        return found
    with open(path) as fh:
        for line in fh:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 4 and cells[0].isdigit():
                found[int(cells[0])] = (float(cells[1]), float(cells[3].split()[0]))
    return found


def goals_table(w, rust, passes, memory, wrk):
    """One table: each goal with ours, the peer, the ratio (or the difference) and the verdict."""
    w("## Goals: ratios in this run")
    w("")
    w("Each goal is ours against the peer named in the row, measured in this run; CPython is its "
      "faster pass. Memory: live heap bytes per bound variable, values included on both sides (ours: "
      "`benches/memory.rs`, u64 values; CPython: tracemalloc, int values made while tracing). The "
      "layer, hooks and rayon rows come from `benches/tower.rs`, `benches/hooks.rs` (built with "
      "`--cfg tokio_unstable`) and `benches/rayon.rs`; the wrk row from `request_server` under wrk.")
    w("")
    w("| path | ours | peer | ratio | goal | met |")
    w("|---|---|---|---|---|---|")
    met_n = total = 0

    def emit(what, ours, peer, goal, kind="ratio", unit=""):
        nonlocal met_n, total
        if ours is None or peer in (None, 0):
            w(f"| {what} | {fmt(ours)}{unit} | {fmt(peer)}{unit} | – | {goal} | not measured |")
            return
        if kind == "over":
            r = ours - peer
            ok = r <= goal
            shown, goal_text = f"+{fmt(r)} ns", f"≤ +{goal:g} ns"
        elif kind == "atleast":
            r = ours / peer
            ok = r >= goal
            shown, goal_text = f"{r:.2f}", f"≥ {goal}"
        else:
            r = ours / peer
            ok = r <= goal
            shown, goal_text = f"{r:.2f}", f"≤ {goal}"
        total += 1
        met_n += ok
        w(f"| {what} | {fmt(ours)}{unit} | {fmt(peer)}{unit} | {shown} | {goal_text} | "
          f"{'met' if ok else '**missed**'} |")

    def peer_of(kind, peer_spec):
        if kind == "cpython":
            vals = [v for v in cpython_passes(peer_spec, passes) if v is not None]
            return min(vals) if vals else None
        if kind == "rust":
            return rust.get(peer_spec)[0]
        return peer_spec

    for what, ours_spec, kind, peer_spec, goal, goal_kind in goals():
        emit(what, rust.get(ours_spec)[0], peer_of(kind, peer_spec), goal, goal_kind)
    cp_mem = {m["n"]: m for m in passes[0].get("memory", [])}
    for n in (64, 10_000, 100_000):
        ours = memory.get(n, (None,))[0]
        peer = cp_mem[n]["bytes_per_var"] if n in cp_mem else None
        emit(f"memory per bound variable, values included, N={n:,} (vs CPython)", ours, peer, 1.0, unit=" B")
    for what, ours_spec, peer_spec, goal, goal_kind in integration_goals():
        emit(what, rust.get(ours_spec)[0], rust.get(peer_spec)[0], goal, goal_kind)
    with_layer = wrk.get("with_layer")
    without = wrk.get("without_layer")
    with_echo = wrk.get("with_layer_and_echo")
    what = (f"`request_server` `/remember` under wrk, {wrk.get('connections', 32)} connections, "
            "req/s with `ContextLayer` alone (`--no-echo`; vs the same server with no layer, "
            "`--no-layer`)")
    if with_layer and without:
        r = with_layer / without
        total += 1
        met_n += r >= 0.97
        w(f"| {what} | {with_layer:,.0f} req/s | {without:,.0f} req/s | {r:.2f} | ≥ 0.97 | "
          f"{'met' if r >= 0.97 else '**missed**'} |")
    else:
        w(f"| {what} | – | – | – | ≥ 0.97 | not measured ({wrk.get('note', 'no wrk run')}) |")
    if with_echo and without:
        w(f"| the same with `ContextLayer` and `EchoHeaderLayer` (the example's default: the "
          f"request id sent back as a header, 23 bytes more per response) | {with_echo:,.0f} req/s | "
          f"{without:,.0f} req/s | {with_echo / without:.2f} | – | – |")
    w("")
    w(f"**Goals met: {met_n} of {total}.**")
    w("")
    w("Earlier goals, judged in the same run:")
    w("")
    w("| goal | ours | peer | ratio | goal | met |")
    w("|---|---|---|---|---|---|")
    for what, ours_spec, kind, peer_spec, goal, goal_kind in earlier_goals():
        emit(what, rust.get(ours_spec)[0], peer_of(kind, peer_spec), goal, goal_kind)
    w("")


def first(threshold):
    return threshold[0] if isinstance(threshold, list) else threshold


def judge(ours, threshold):
    """'yes' / '**no** (×r)' for a threshold, or one verdict per threshold for a list."""
    if threshold is None or ours is None:
        return "—"
    if isinstance(threshold, list):
        return " / ".join(judge(ours, t) for t in threshold)
    if ours <= threshold:
        return "yes"
    return f"**no** (×{ours / threshold:.2f})"


def summary_table(w, rust, main_rows):
    """The main rows once more: the fastest context peer of the row named, and the floor."""
    w("## Summary: the main rows")
    w("")
    w("Same figures as above. **best context peer** is the faster of the row's tokio `task_local!` "
      "and opentelemetry cells; **thread_local!** is the floor (no context at all). Ratios are "
      "ours ÷ theirs, **< 1 means ours is faster**.")
    w("")
    w("| operation | N | ours | CPython 3.11 | ours/CPython | best context peer | ours/peer | "
      "thread_local! | ours/thread_local! | target | met |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    names = dict(PEERS)
    for r, ours, cp_best, text, met in main_rows:
        peers = []
        for key in ("tokio", "otel"):
            v, label = rust.get(r["peers"].get(key))
            if v is not None:
                peers.append((v, names[key] + (f" `{label}`" if label else "")))
        peer = min(peers) if peers else None
        floor, _ = rust.get(r["peers"].get("tls"))
        size = "" if r["size"] is None else f"{r['size']:,}"
        peer_cell = f"{fmt(peer[0])} {peer[1]}" if peer else "–"
        peer_ratio = ratio(ours, peer[0]) if peer else "–"
        w(f"| {r['op']} | {size} | {fmt(ours)} | {fmt(cp_best)} | {ratio(ours, cp_best)} | "
          f"{peer_cell} | {peer_ratio} | {fmt(floor)} | {ratio(ours, floor)} | {text} | {met} |")
    w("")


def load_criterion(root):
    found = {}
    for est_path in glob.glob(os.path.join(root, "**", "new", "estimates.json"), recursive=True):
        bench_path = os.path.join(os.path.dirname(est_path), "benchmark.json")
        try:
            with open(bench_path) as fh:
                meta = json.load(fh)
            with open(est_path) as fh:
                est = json.load(fh)
        except (OSError, ValueError):
            continue
        found[meta["full_id"]] = est["median"]["point_estimate"]
    return found


def fmt(ns):
    if ns is None:
        return "–"
    if abs(ns) >= 10_000_000:
        return f"{ns / 1e6:.1f} ms"
    if abs(ns) >= 100_000:
        return f"{ns / 1000:.0f} µs"
    if abs(ns) >= 10_000:
        return f"{ns / 1000:.1f} µs"
    if abs(ns) >= 100:
        return f"{ns:.0f}"
    if abs(ns) >= 10:
        return f"{ns:.1f}"
    return f"{ns:.2f}"


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return "–"
    r = a / b
    return f"{r:.2f}" if r < 10 else f"{r:.0f}"


class Rust:
    def __init__(self, figures):
        self.f = figures
        self.used = set()

    def get(self, spec):
        """(value, label) for a spec; label names the variant when several were compared."""
        if spec is None:
            return None, ""
        if isinstance(spec, str):
            self.used.add(spec)
            return self.f.get(spec), ""
        if spec[0] == "diff":
            a, _ = self.get(spec[1])
            b, _ = self.get(spec[2])
            return (a - b if a is not None and b is not None else None), ""
        if spec[0] == "scale":
            v, _ = self.get(spec[1])
            return (v * spec[2] if v is not None else None), ""
        if spec[0] == "best":
            vals = [(self.get(s)[0], s) for s in spec[1:]]
            vals = [(v, s) for v, s in vals if v is not None]
            if not vals:
                return None, ""
            v, s = min(vals)
            return v, s.split("/", 1)[1].split(".", 1)[1]
        raise ValueError(spec)


def cpython_passes(spec, passes):
    """The spec's median in each pass."""
    out = []
    for p in passes:
        res = p["results"]
        if isinstance(spec, str):
            out.append(res[spec]["median_ns"] if spec in res else None)
        else:
            a = res.get(spec[1], {}).get("median_ns")
            b = res.get(spec[2], {}).get("median_ns")
            out.append(a - b if a is not None and b is not None else None)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--criterion", required=True)
    ap.add_argument("--cpython", nargs="+", required=True)
    ap.add_argument("--memory")
    ap.add_argument("--wrk", help="JSON from bench.sh's wrk step: with_layer / without_layer / "
                    "with_layer_and_echo req/s")
    ap.add_argument("--meta", nargs="*", default=[])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    rust = Rust(load_criterion(args.criterion))
    passes = []
    for path in args.cpython:
        with open(path) as fh:
            passes.append(json.load(fh))

    lines = []
    w = lines.append
    w("# contextvars benchmarks: ours vs CPython vs Rust peers, one run")
    w("")
    for kv in args.meta:
        k, _, v = kv.partition("=")
        w(f"- **{k}**: {v}")
    w(f"- **CPython**: {passes[0]['python']}, {len(passes)} passes in this run "
      f"(before and after the Rust benches), {passes[0]['repeat']} timing runs each")
    w("")
    w("All figures: ns per operation, median. Rust: criterion's median estimate. CPython: median of "
      "its timing runs, per pass (`pass 1 / pass 2`), raw (includes timeit's loop, "
      f"`loop_pass` = {' / '.join(fmt(p['results']['loop_pass']['median_ns']) for p in passes)} ns, and "
      "method dispatch). Ratios are ours ÷ theirs: **< 1 means ours is faster**. "
      "`ours/CPython` uses the faster of the passes (the stricter comparison for us). Each peer cell is `time (ours/peer)`. "
      "Peer figures do not depend on context size (the peers have no such notion) and are repeated "
      "on every size row. Sized rows run in a fresh `Context` holding exactly N variables, inside "
      "`ctx.run`. **met** compares ours with the row's target on this run.")
    w("")
    head = ["operation", "N", "ours", "CPython 3.11", "ours/CPython"] + [name for _, name in PEERS] + \
        ["target", "met", "notes"]
    w("| " + " | ".join(head) + " |")
    w("|" + "---|" * len(head))
    summary = []
    main_rows = []
    for r in rows():
        ours, _ = rust.get(r["ours"])
        cp = cpython_passes(r["cpython"], passes) if r["cpython"] else []
        cp_vals = [v for v in cp if v is not None]
        cp_best = min(cp_vals) if cp_vals else None
        cells = [r["op"], "" if r["size"] is None else f"{r['size']:,}", fmt(ours),
                 " / ".join(fmt(v) for v in cp) if cp else "–", ratio(ours, cp_best)]
        for key, _ in PEERS:
            spec = r["peers"].get(key)
            if spec is None:
                cells.append("")
                continue
            v, label = rust.get(spec)
            cell = f"{fmt(v)} ({ratio(ours, v)})"
            if label:
                cell += f" `{label}`"
            cells.append(cell)
        text, threshold = r["target"] or ("—", None)
        met = judge(ours, threshold)
        note = r["note"]
        if isinstance(note, tuple):
            kind, a, b = note
            if kind == "raw":
                note = f"copy+set {fmt(rust.get(a)[0])}, copy alone {fmt(rust.get(b)[0])}"
            elif kind == "bare" and b is None:
                note = f"bare call {fmt(rust.get(a)[0])}"
            elif kind == "bare":
                note = f"bare {fmt(rust.get(a)[0])}; {b}"
        cells += [text, met, note]
        w("| " + " | ".join(cells) + " |")
        summary.append((r["op"], r["size"], ours, first(threshold), met, cp_best))
        if r["main"]:
            main_rows.append((r, ours, cp_best, text, met))
    w("")
    judged = [s for s in summary if s[3] is not None and s[2] is not None]
    met_n = sum(1 for s in judged if s[2] <= s[3])
    beat_cp = [s for s in summary if s[2] is not None and s[5] is not None]
    w(f"**Targets met: {met_n} of {len(judged)} rows that have a numeric target.** "
      f"Faster than CPython (its faster pass) on {sum(1 for s in beat_cp if s[2] < s[5])} of {len(beat_cp)} rows. "
      "Rows with two targets are counted against the first.")
    w("")
    wrk = {}
    if args.wrk and os.path.exists(args.wrk):
        with open(args.wrk) as fh:
            wrk = json.load(fh)
    goals_table(w, rust, passes, load_memory(args.memory), wrk)
    summary_table(w, rust, main_rows)

    # Memory.
    if args.memory and os.path.exists(args.memory):
        w("## Memory (live heap bytes)")
        w("")
        w("Ours (`cargo bench --bench memory`, a counting global allocator, `u64` values; the stored "
          "value's own allocation is included):")
        w("")
        with open(args.memory) as fh:
            w(fh.read().rstrip())
        w("")
    mem = passes[0].get("memory")
    if mem:
        w("CPython (tracemalloc; the HAMT and the int values it holds, made while tracing; the "
          "variables existed before):")
        w("")
        w("| variables N | bytes per variable held | snapshot (`ctx.copy()`) | snapshot after 1 set |")
        w("|---|---|---|---|")
        for m in mem:
            w(f"| {m['n']} | {m['bytes_per_var']:.1f} | {m['snapshot_bytes']} B | "
              f"{m['snapshot_after_one_set_bytes']} B |")
        w("")

    # Everything criterion measured, so nothing is hidden by the selection above.
    w("## Every criterion figure of this run")
    w("")
    w(f"`spawn100k/*` figures here are per iteration ({SPAWN_TASKS:,} tasks); the tables above "
      "divide them by that.")
    w("")
    w("| benchmark | median ns | in the table above |")
    w("|---|---|---|")
    for k in sorted(rust.f):
        w(f"| `{k}` | {fmt(rust.f[k])} | {'yes' if k in rust.used else 'no'} |")
    w("")
    w("## CPython, every case")
    w("")
    w("| case | " + " | ".join(f"pass {i + 1} median (min)" for i in range(len(passes))) + " | statement |")
    w("|---|" + "---|" * len(passes) + "---|")
    for k in passes[0]["results"]:
        cells = []
        for p in passes:
            res = p["results"].get(k)
            cells.append(f"{fmt(res['median_ns'])} ({fmt(res['min_ns'])})" if res else "–")
        stmt = passes[0]["results"][k]["stmt"].replace("\n", "; ")
        if len(stmt) > 60:
            stmt = stmt[:57] + "..."
        w(f"| `{k}` | " + " | ".join(cells) + f" | `{stmt}` |")
    w("")

    with open(args.out, "w") as fh:
        fh.write("\n".join(lines))
    missing = [r["ours"] for r in rows() if r["ours"] is not None and rust.get(r["ours"])[0] is None]
    if missing:
        print(f"warning: no criterion figure for {missing}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
