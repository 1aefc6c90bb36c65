"""Benchmark: DLMPs (Market 3) by OpenGridGym vs CVXPY + Clarabel, per formulation.

For IEEE 37 (use case 3's offers and limits at the peak) and random radial
trees of 1k and 10k buses (tests/python/test_dlmp_vs_cvxpy.py's generator),
side by side in one run, per formulation (dc, lindistflow, socp):
  * CVXPY from scratch: build the problem and solve it (what a script does once);
  * CVXPY parameterised: compile once with cp.Parameter prices, costs and
    demands, then re-solve with new values (what a market loop does every
    interval) — first solve and median re-solve;
  both written the way a CVXPY user writes for speed (vector variables, sparse
  incidence matrices; `build_vectorized`); tests/python/test_dlmp_vs_cvxpy.py
  holds the scalar formulation that the prices are checked against;
  * ours: `dlmp_clear --repeat N` (release build) on the sparse branch-flow
    problem, built once and updated in place each interval (new LMP, demand
    ±1 %, linear costs ±0.1 %, as the CVXPY side): by our tree-structured
    interior point (tree-ipm, the default), by Clarabel (Rust, the reference)
    and, for dc, by ogg-market's exact tree algorithm.
Prints medians, the ratio CVXPY re-solve / ours, and peak memory (RSS) of
every process. Each CVXPY measurement runs in its own process under a memory
cap (--mem-gb), so that a blow-up is reported instead of taking the machine down.

    cargo build --release -p ogg-dlmp --example dlmp_clear
    python3 bench/dlmp_vs_cvxpy.py [--sizes 37,1000,10000] [--formulations dc,lindistflow,socp]
                                   [--repeat 50] [--cvxpy-repeat 5] [--mem-gb 14] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import cvxpy as cp  # noqa: E402

import test_dlmp_vs_cvxpy as t  # noqa: E402

CLARABEL = dict(tol_gap_abs=1e-8, tol_gap_rel=1e-8, tol_feas=1e-8)


def find_binary() -> Path:
    for profile in ("release", "debug"):
        exe = ROOT / "target" / profile / "examples" / "dlmp_clear"
        if exe.is_file():
            if profile == "debug":
                print("warning: using the debug build; build with --release for real numbers", file=sys.stderr)
            return exe
    sys.exit("build first: cargo build --release -p ogg-dlmp --example dlmp_clear")


# ----------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------
def make_cases(sizes: list[int], tmp: Path, exe: Path) -> list[dict]:
    cases = []
    for n in sizes:
        d = tmp / f"case{n}"
        d.mkdir(parents=True, exist_ok=True)
        if n == 37:
            feeder, offers, args, meta = t.ieee37_case()
            t.write_csv(d / "limits.csv", ["from_bus", "to_bus", "limit_kw"], meta["limits"])
            args = [str(d / "limits.csv") if a == "LIMITS" else a for a in args]
            # The network as our side models it (impedances, regulator band) for CVXPY.
            t.write_csv(d / "offers.csv", ["id", "bus", "kind", "p_min_kw", "p_max_kw", "c0", "c1", "c2", "pwl", "q_per_p"], t.offer_rows(offers))
            subprocess.run([str(exe), "--feeder", feeder, "--offers", str(d / "offers.csv"), "--no-ac", "--out", str(d / "net")] + args,
                           check=True, capture_output=True)
            rows = t.read_csv(d / "net" / "network.csv")
            case = dict(name="IEEE 37 (UC3 peak)", n=39, feeder=feeder, args=args, rows=rows, offers=offers, lmp=meta["lmp"],
                        exempt=meta["exempt"], v_min=0.95, v_max=1.05)
        else:
            rows, offers = t.random_tree_case(n, seed=n)
            t.write_csv(d / "tree.csv", ["from_bus", "to_bus", "limit_kw", "r_pu", "x_pu"],
                        [[r["from_bus"], r["to_bus"], r["limit_kw"], r["r_pu"], r["x_pu"]] for r in rows])
            case = dict(name=f"random tree {n} buses", n=n, feeder=str(d / "tree.csv"), args=["--lmp", "40", "--v-min", "0.9", "--v-max", "1.1"],
                        rows=rows, offers=offers, lmp=40.0, exempt=(), v_min=0.9, v_max=1.1)
        case["dir"] = str(d)
        with open(d / "case.pkl", "wb") as f:
            pickle.dump(case, f)
        cases.append(case)
    return cases


# ----------------------------------------------------------------------------
# Ours
# ----------------------------------------------------------------------------
def run_ours(exe: Path, case: dict, formulation: str, repeat: int, solver: str | None = None) -> dict:
    d = Path(case["dir"])
    t.write_csv(d / "offers.csv", ["id", "bus", "kind", "p_min_kw", "p_max_kw", "c0", "c1", "c2", "pwl", "q_per_p"], t.offer_rows(case["offers"]))
    # The same tolerance as CVXPY's Clarabel below.
    cmd = [str(exe), "--feeder", case["feeder"], "--offers", str(d / "offers.csv"), "--formulation", formulation, "--no-ac",
           "--tol", "1e-8", "--repeat", str(repeat), "--out", str(d / f"ours-{formulation}")] + case["args"]
    if solver:
        cmd += ["--solver", solver]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if not lines:
        return {"error": proc.stderr[-300:]}
    rep = json.loads(lines[-1])
    return {"status": rep["status"], "first_s": rep["first_solve_s"], "resolve_s": rep["resolve_s"],
            "resolve_solver_s": rep.get("resolve_solver_s"), "iterations": rep["iterations"],
            "resolve_iterations": rep.get("resolve_iterations"), "solver": rep.get("solver"),
            "rss_mb": rep.get("peak_rss_mb", float("nan")), "wall_s": wall}


# ----------------------------------------------------------------------------
# CVXPY: from scratch and parameterised
# ----------------------------------------------------------------------------
def build_vectorized(case: dict, formulation: str):
    """The OPF as a CVXPY user writes it for speed: vector variables, sparse
    incidence matrices, and cp.Parameter LMP, cost coefficients, demand and
    (LinDistFlow) the loss linearisation's base point, which follows the demand.
    Returns the problem, an `update(k)` that sets a new interval's data, and
    the balance constraint (for the prices)."""
    import scipy.sparse as sp_

    net = t.net_from_edges(case["rows"])
    offers = case["offers"]
    n, kb = net.n, 1000.0
    order = net.order()
    edges = [i for i in range(n) if net.parent[i] >= 0]
    m = len(edges)
    eidx = {e: k for k, e in enumerate(edges)}
    # Incidence: +1 at the child (inflow), −1 at the parent.
    rows_, cols_, vals_ = [], [], []
    for k, e in enumerate(edges):
        rows_ += [e, net.parent[e]]
        cols_ += [k, k]
        vals_ += [1.0, -1.0]
    C = sp_.csr_matrix((vals_, (rows_, cols_)), shape=(n, m))
    Cin = sp_.csr_matrix(([1.0] * m, ([e for e in edges], list(range(m)))), shape=(n, m))
    gens = [o for o in offers if o.kind == "generator" and not o.pwl]
    pwls = [o for o in offers if o.kind == "generator" and o.pwl]
    drs = [o for o in offers if o.kind == "dr"]
    loads = [o for o in offers if o.kind == "load"]
    at = lambda lst: sp_.csr_matrix(([1.0] * len(lst), ([net.index(o.bus) for o in lst], list(range(len(lst))))), shape=(n, max(len(lst), 0)))  # noqa: E731
    Mg, Mp, Md = at(gens), at(pwls), at(drs)
    load_p, load_q = np.zeros(n), np.zeros(n)
    for o in loads:
        load_p[net.index(o.bus)] += o.p_max / kb
        load_q[net.index(o.bus)] += o.q_per_p * o.p_max / kb
    lmp = cp.Parameter(value=case["lmp"])
    demand_p, demand_q = cp.Parameter(n, value=load_p), cp.Parameter(n, value=load_q)
    cons, cost = [], 0
    inj_p, inj_q = 0, 0
    c1g = c2g = c1d = c2d = None
    if gens:
        xg = cp.Variable(len(gens))
        c1g = cp.Parameter(len(gens), value=np.array([o.c[1] for o in gens]))
        c2g = cp.Parameter(len(gens), nonneg=True, value=np.array([o.c[2] for o in gens]))
        cons += [xg >= np.array([o.p_min for o in gens]) / kb, xg <= np.array([o.p_max for o in gens]) / kb]
        cost += c1g @ xg + cp.sum(cp.multiply(c2g, cp.square(xg)))
        inj_p = inj_p + Mg @ xg
    if pwls:
        xp = cp.Variable(len(pwls))
        tp = cp.Variable(len(pwls))
        cons += [xp >= np.array([o.p_min for o in pwls]) / kb, xp <= np.array([o.p_max for o in pwls]) / kb]
        # Epigraph of each convex piecewise-linear cost, one row per segment.
        seg_r, seg_a, seg_b = [], [], []
        for k, o in enumerate(pwls):
            for (p0, c0), (p1, c1) in zip(o.pwl[:-1], o.pwl[1:]):
                slope = (c1 - c0) / (p1 - p0)
                seg_r.append(k)
                seg_a.append(c0 - slope * p0)
                seg_b.append(slope)
        S = sp_.csr_matrix((np.ones(len(seg_r)), (list(range(len(seg_r))), seg_r)), shape=(len(seg_r), len(pwls)))
        cons.append(S @ tp >= np.array(seg_a) + cp.multiply(np.array(seg_b), S @ xp))
        cost += cp.sum(tp)
        inj_p = inj_p + Mp @ xp
    if drs:
        xd = cp.Variable(len(drs))
        hi = np.array([o.p_max for o in drs]) / kb
        c1d = cp.Parameter(len(drs), value=np.array([o.c[1] for o in drs]))
        c2d = cp.Parameter(len(drs), nonneg=True, value=np.array([o.c[2] for o in drs]))
        cons += [xd >= np.array([o.p_min for o in drs]) / kb, xd <= hi]
        cost += c1d @ (hi - xd) + cp.sum(cp.multiply(c2d, cp.square(hi - xd)))
        inj_p = inj_p - Md @ xd
        inj_q = inj_q - Md @ cp.multiply(np.array([o.q_per_p for o in drs]), xd)
    splus, sminus = cp.Variable(nonneg=True), cp.Variable(nonneg=True)
    cost += lmp * splus
    root = np.zeros(n)
    root[net.root] = 1.0
    P = cp.Variable(m)
    lim = np.array([net.limit_kw[e] / kb for e in edges])
    limited = np.where(np.isfinite(lim))[0]
    r = np.array([net.r[e] for e in edges])
    x = np.array([net.x[e] for e in edges])
    base_fixed = np.zeros((2, n))
    for o in drs:
        base_fixed[0, net.index(o.bus)] += o.p_max / kb
        base_fixed[1, net.index(o.bus)] += o.q_per_p * o.p_max / kb
    bp = bq = bk = None
    if formulation == "dc":
        balance = inj_p + cp.multiply(root, splus - sminus) + C @ P == demand_p
        cons += [balance, P[limited] <= lim[limited], P[limited] >= -lim[limited]]
    else:
        Q = cp.Variable(m)
        w = cp.Variable(m)
        q_src = cp.Variable()
        if formulation == "lindistflow":
            bp, bq, bk = cp.Parameter(m), cp.Parameter(m), cp.Parameter(m)
            loss_p = cp.multiply(r, 2 * cp.multiply(bp, P) + 2 * cp.multiply(bq, Q) - bk)
            loss_q = cp.multiply(x, 2 * cp.multiply(bp, P) + 2 * cp.multiply(bq, Q) - bk)
        else:
            ell = cp.Variable(m, nonneg=True)
            loss_p, loss_q = cp.multiply(r, ell), cp.multiply(x, ell)
        balance = inj_p + cp.multiply(root, splus - sminus) + C @ P - Cin @ loss_p == demand_p
        cons += [balance, inj_q + cp.multiply(root, q_src) + C @ Q - Cin @ loss_q == demand_q]
        # Parent's squared voltage per edge: the source (constant) or another edge's w.
        par_rows, par_cols = [], []
        w_root = np.zeros(m)
        for k, e in enumerate(edges):
            i = net.parent[e]
            if i == net.root:
                w_root[k] = 1.0
            else:
                par_rows.append(k)
                par_cols.append(eidx[i])
        Par = sp_.csr_matrix((np.ones(len(par_rows)), (par_rows, par_cols)), shape=(m, m))
        w_parent = Par @ w + w_root
        reg = [eidx[e] for e in edges if e in net.reg]
        tap2 = np.array([net.tap[e] ** 2 for e in edges])
        if reg:
            w_sec_reg = cp.Variable(len(reg))
            R = sp_.csr_matrix((np.ones(len(reg)), (reg, list(range(len(reg))))), shape=(m, len(reg)))
            keep = np.ones(m)
            keep[reg] = 0.0
            w_sec = cp.multiply(keep * tap2, w_parent) + R @ w_sec_reg
            bands = np.array([net.reg[edges[k]] for k in reg])
            cons += [w_sec_reg <= bands[:, 3] ** 2 * w_parent[reg], w_sec_reg >= bands[:, 2] ** 2 * w_parent[reg],
                     w[reg] <= bands[:, 1] ** 2, w[reg] >= bands[:, 0] ** 2]
        else:
            w_sec = cp.multiply(tap2, w_parent)
        drop = 2 * (cp.multiply(r, P) + cp.multiply(x, Q))
        if formulation == "socp":
            cons.append(w == w_sec - drop + cp.multiply(r ** 2 + x ** 2, ell))
            cons.append(cp.SOC(ell + w_sec, cp.vstack([2 * P, 2 * Q, ell - w_sec]), axis=0))
        else:
            cons.append(w == w_sec - drop)
        if len(limited):
            cons.append(cp.SOC(lim[limited], cp.vstack([P[limited], Q[limited]]), axis=0))
        bounded = [k for k, e in enumerate(edges) if net.buses[e] not in case["exempt"]]
        cons += [w[bounded] <= case["v_max"] ** 2, w[bounded] >= case["v_min"] ** 2]

    def set_base(lp, lq):
        if bp is None:
            return
        b_p, b_q = lp + base_fixed[0], lq + base_fixed[1]
        for i in reversed(order):
            if net.parent[i] >= 0:
                b_p[net.parent[i]] += b_p[i]
                b_q[net.parent[i]] += b_q[i]
        bp.value = np.array([b_p[e] for e in edges])
        bq.value = np.array([b_q[e] for e in edges])
        bk.value = bp.value ** 2 + bq.value ** 2

    set_base(load_p, load_q)
    prob = cp.Problem(cp.Minimize(cost), cons)

    def update(k: int) -> None:
        """A new interval: LMP and demand move, linear costs drift."""
        rng = np.random.default_rng(k)
        lmp.value = case["lmp"] * (1.0 + 1e-3 * ((k % 7) - 3))
        scale = 1.0 + 0.01 * rng.uniform(-1, 1, n)
        demand_p.value, demand_q.value = load_p * scale, load_q * scale
        set_base(load_p * scale, load_q * scale)
        for par in (c1g, c1d):
            if par is not None:
                par.value = par.value * (1.0 + 1e-3 * rng.uniform(-1, 1, par.shape))

    return prob, update, balance, net


def worker(pkl: str, formulation: str, mode: str, repeat: int) -> None:
    with open(pkl, "rb") as f:
        case = pickle.load(f)
    out = {}
    if mode == "scratch":
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            prob, _, balance, net = build_vectorized(case, formulation)
            prob.solve(solver=cp.CLARABEL, ignore_dpp=True, **CLARABEL)
            times.append(time.perf_counter() - start)
        out = {"status": prob.status, "scratch_s": statistics.median(times)}
        # Sanity: the prices, for comparison with ours.
        out["dlmp_mean"] = float(np.mean(-np.asarray(balance.dual_value) if t.SIGN < 0 else balance.dual_value))
    else:
        start = time.perf_counter()
        prob, update, _, _ = build_vectorized(case, formulation)
        prob.solve(solver=cp.CLARABEL, **CLARABEL)
        first = time.perf_counter() - start
        times, solver_times = [], []
        for k in range(repeat):
            update(k)
            start = time.perf_counter()
            prob.solve(solver=cp.CLARABEL, **CLARABEL)
            times.append(time.perf_counter() - start)
            solver_times.append(prob.solver_stats.solve_time or float("nan"))
        out = {"status": prob.status, "param_first_s": first, "resolve_s": statistics.median(times),
               "resolve_solver_s": statistics.median(solver_times)}
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out))


def run_worker(case: dict, formulation: str, mode: str, repeat: int, mem_gb: float, timeout_s: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", str(Path(case["dir"]) / "case.pkl"), formulation, mode, str(repeat)]
    limit = int(mem_gb * 1024 ** 3)

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=cap, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout_s:.0f} s"}
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        if "MemoryError" in proc.stderr or "Cannot allocate" in proc.stderr or "bad_alloc" in proc.stderr:
            tail = f"out of memory (cap {mem_gb:g} GB)"
        return {"error": tail[:160]}
    return json.loads(lines[-1])


def fmt_s(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if v < 1e-3:
        return f"{v * 1e6:.0f} µs"
    if v < 1:
        return f"{v * 1e3:.2f} ms"
    return f"{v:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="37,1000,10000")
    ap.add_argument("--formulations", default="dc,lindistflow,socp")
    ap.add_argument("--repeat", type=int, default=50, help="re-solves of ours")
    ap.add_argument("--cvxpy-repeat", type=int, default=5, help="CVXPY re-solves (from-scratch runs on IEEE 37)")
    ap.add_argument("--mem-gb", type=float, default=14.0, help="memory cap of each CVXPY process")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per CVXPY measurement")
    ap.add_argument("--json", default=None, help="write every number here too")
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.worker[2], int(args.worker[3]))
        return
    exe = find_binary()
    sizes = [int(s) for s in args.sizes.split(",")]
    forms = args.formulations.split(",")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = make_cases(sizes, Path(tmp), exe)
        print(f"{'case':<24} {'form.':<12} {'CVXPY scratch':>14} {'CVXPY param 1st':>16} {'CVXPY re-solve':>15} "
              f"{'(solver only)':>14} {'ours 1st':>10} {'ours re-solve':>14} {'re-solve/ours':>14} {'RSS ours/CVXPY MB':>18}")
        for case in cases:
            for f in forms:
                big = case["n"] >= 5000
                reps = max(1, args.repeat // (20 if big else 1))
                ours = run_ours(exe, case, f, reps)
                tree = run_ours(exe, case, f, args.repeat, "tree") if f == "dc" else None
                clarabel = run_ours(exe, case, f, max(1, reps // 4), "clarabel")
                scratch = run_worker(case, f, "scratch", args.cvxpy_repeat if case["n"] < 500 else 1, args.mem_gb, args.timeout)
                param = run_worker(case, f, "param", max(1, args.cvxpy_repeat if not big else 2), args.mem_gb, args.timeout)
                row = dict(case=case["name"], n=case["n"], formulation=f, ours=ours, ours_tree=tree, ours_clarabel=clarabel,
                           scratch=scratch, param=param)
                results.append(row)
                for label, mine in [(f, ours), (f"{f} (Clarabel)", clarabel)] + ([("dc (tree)", tree)] if tree else []):
                    ratio = (param.get("resolve_s") / mine["resolve_s"]) if param.get("resolve_s") and mine.get("resolve_s") else None
                    rss = f"{mine.get('rss_mb', float('nan')):.0f} / {max(scratch.get('rss_mb', 0), param.get('rss_mb', 0)):.0f}"
                    print(f"{case['name']:<24} {label:<12} {fmt_s(scratch.get('scratch_s')) if 'error' not in scratch else scratch['error'][:14]:>14} "
                          f"{fmt_s(param.get('param_first_s')) if 'error' not in param else param['error'][:16]:>16} {fmt_s(param.get('resolve_s')):>15} "
                          f"{fmt_s(param.get('resolve_solver_s')):>14} {fmt_s(mine.get('first_s')):>10} {fmt_s(mine.get('resolve_s')):>14} "
                          f"{(f'{ratio:.0f}×' if ratio else '–'):>14} {rss:>18}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
