"""Benchmark: DLMPs (Market 3) by OpenGridGym vs CVXPY + Clarabel, per formulation.

For IEEE 37 (use case 3's offers and limits at the peak) and random radial
trees of 1k and 10k buses (tests/python/test_dlmp_vs_cvxpy.py's generator),
side by side in one run, per formulation (dc, lindistflow, socp):
  * CVXPY from scratch: build the problem and solve it (what a script does once);
  * CVXPY parameterised: compile once with cp.Parameter prices, costs and
    demands, then re-solve with new values (what a market loop does every
    interval) — first solve and median re-solve;
  * ours: `dlmp_clear --repeat N` (release build): Clarabel (Rust) on the
    sparse branch-flow problem, built once and updated in place with a new
    LMP each interval; for dc also ogg-market's exact tree algorithm.
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
            "rss_mb": rep.get("peak_rss_mb", float("nan")), "wall_s": wall}


# ----------------------------------------------------------------------------
# CVXPY: from scratch and parameterised
# ----------------------------------------------------------------------------
def build_param(case: dict, formulation: str):
    """The OPF with cp.Parameter LMP, linear and quadratic cost coefficients and
    fixed demand (and the loss linearisation's base point, which follows the demand)."""
    net = t.net_from_edges(case["rows"])
    offers = case["offers"]
    n, ch, order, kb = net.n, net.children(), net.order(), 1000.0
    lmp = cp.Parameter(value=case["lmp"])
    demand_p = cp.Parameter(n, value=np.zeros(n))
    demand_q = cp.Parameter(n, value=np.zeros(n))
    p_inj = [0 for _ in range(n)]
    q_inj = [0 for _ in range(n)]
    cost, cons = 0, []
    c1p, c2p = {}, {}
    base_fixed = np.zeros((2, n))
    load_p = np.zeros(n)
    load_q = np.zeros(n)
    for o in offers:
        j = net.index(o.bus)
        if o.kind == "load":
            load_p[j] += o.p_max / kb
            load_q[j] += o.q_per_p * o.p_max / kb
            continue
        v = cp.Variable()
        lo, hi = o.p_min / kb, o.p_max / kb
        cons += [v >= lo, v <= hi]
        if o.kind == "generator":
            arg = v
            p_inj[j] = p_inj[j] + v
        else:
            arg = hi - v
            p_inj[j] = p_inj[j] - v
            q_inj[j] = q_inj[j] - o.q_per_p * v
            base_fixed[0, j] += hi
            base_fixed[1, j] += o.q_per_p * hi
        if o.pwl:
            pts = o.pwl
            pieces = [c0 + (c1 - c0) / (p1 - p0) * (arg - p0) for (p0, c0), (p1, c1) in zip(pts[:-1], pts[1:])]
            cost = cost + (cp.maximum(*pieces) if len(pieces) > 1 else pieces[0])
        else:
            c1p[o.id] = cp.Parameter(value=o.c[1])
            c2p[o.id] = cp.Parameter(nonneg=True, value=o.c[2])
            cost = cost + c1p[o.id] * arg + c2p[o.id] * cp.square(arg)
    demand_p.value, demand_q.value = load_p, load_q
    sp, sm = cp.Variable(nonneg=True), cp.Variable(nonneg=True)
    cost = cost + lmp * sp
    edges = [i for i in range(n) if net.parent[i] >= 0]
    P = {e: cp.Variable() for e in edges}
    branch = formulation != "dc"
    if branch:
        Q = {e: cp.Variable() for e in edges}
        w = {e: cp.Variable() for e in edges}
        q_src = cp.Variable()
        ell = {e: cp.Variable(nonneg=True) for e in edges} if formulation == "socp" else {}
        # Loss base point and its constant term as parameters (DPP: no products of parameters).
        base_p = cp.Parameter(n)
        base_q = cp.Parameter(n)
        loss_const = cp.Parameter(n)
    def set_base(lp, lq):
        if formulation != "lindistflow":
            return
        bp, bq = lp + base_fixed[0], lq + base_fixed[1]
        for i in reversed(order):
            if net.parent[i] >= 0:
                bp[net.parent[i]] += bp[i]
                bq[net.parent[i]] += bq[i]
        base_p.value, base_q.value = bp, bq
        loss_const.value = bp ** 2 + bq ** 2
    if formulation == "lindistflow":
        set_base(load_p, load_q)
    for j in range(n):
        fp = sum(-P[c] for c in ch[j])
        if net.parent[j] >= 0:
            if formulation == "dc":
                fp = fp + P[j]
            elif formulation == "lindistflow":
                fp = fp + P[j] - net.r[j] * (2 * base_p[j] * P[j] + 2 * base_q[j] * Q[j] - loss_const[j])
            else:
                fp = fp + P[j] - net.r[j] * ell[j]
        extra = (sp - sm) if j == net.root else 0
        cons.append(p_inj[j] + extra + fp == demand_p[j])
        if branch:
            fq = sum(-Q[c] for c in ch[j])
            if net.parent[j] >= 0:
                if formulation == "lindistflow":
                    fq = fq + Q[j] - net.x[j] * (2 * base_p[j] * P[j] + 2 * base_q[j] * Q[j] - loss_const[j])
                else:
                    fq = fq + Q[j] - net.x[j] * ell[j]
            cons.append(q_inj[j] + (q_src if j == net.root else 0) + fq == demand_q[j])
    w0 = 1.0
    for e in edges:
        lim = net.limit_kw[e] / kb
        if formulation == "dc":
            if np.isfinite(lim):
                cons += [P[e] <= lim, P[e] >= -lim]
            continue
        i = net.parent[e]
        wi = w0 if i == net.root else w[i]
        if e in net.reg:
            v_lo, v_hi, t_min, t_max = net.reg[e]
            w_sec = cp.Variable()
            cons += [w_sec <= t_max ** 2 * wi, w_sec >= t_min ** 2 * wi, w[e] <= v_hi ** 2, w[e] >= v_lo ** 2]
        else:
            w_sec = net.tap[e] ** 2 * wi
        drop = 2 * (net.r[e] * P[e] + net.x[e] * Q[e])
        if formulation == "socp":
            cons.append(w[e] == w_sec - drop + (net.r[e] ** 2 + net.x[e] ** 2) * ell[e])
            cons.append(cp.quad_over_lin(cp.hstack([P[e], Q[e]]), w_sec) <= ell[e])
        else:
            cons.append(w[e] == w_sec - drop)
        if np.isfinite(lim):
            cons.append(cp.norm(cp.hstack([P[e], Q[e]])) <= lim)
        if net.buses[e] not in case["exempt"]:
            cons += [w[e] <= case["v_max"] ** 2, w[e] >= case["v_min"] ** 2]
    prob = cp.Problem(cp.Minimize(cost), cons)

    def update(k: int) -> None:
        """A new interval: LMP and demand move, costs drift."""
        rng = np.random.default_rng(k)
        lmp.value = case["lmp"] * (1.0 + 1e-3 * ((k % 7) - 3))
        scale = 1.0 + 0.01 * rng.uniform(-1, 1, n)
        demand_p.value = load_p * scale
        demand_q.value = load_q * scale
        set_base(load_p * scale, load_q * scale)
        for key, par in c1p.items():
            par.value = float(par.value) * (1.0 + 1e-3 * rng.uniform(-1, 1))
    return prob, update


def worker(pkl: str, formulation: str, mode: str, repeat: int) -> None:
    with open(pkl, "rb") as f:
        case = pickle.load(f)
    out = {}
    if mode == "scratch":
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            res = t.solve_cvxpy(t.net_from_edges(case["rows"]), case["offers"], formulation, case["lmp"], v_min=case["v_min"],
                                v_max=case["v_max"], exempt=case["exempt"])
            times.append(time.perf_counter() - start)
        out = {"status": res["status"], "scratch_s": statistics.median(times)}
    else:
        start = time.perf_counter()
        prob, update = build_param(case, formulation)
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
                scratch = run_worker(case, f, "scratch", args.cvxpy_repeat if case["n"] < 500 else 1, args.mem_gb, args.timeout)
                param = run_worker(case, f, "param", max(1, args.cvxpy_repeat if not big else 2), args.mem_gb, args.timeout)
                row = dict(case=case["name"], n=case["n"], formulation=f, ours=ours, ours_tree=tree, scratch=scratch, param=param)
                results.append(row)
                for label, mine in [(f, ours)] + ([("dc (tree)", tree)] if tree else []):
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
