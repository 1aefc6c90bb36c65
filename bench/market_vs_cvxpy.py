"""Benchmark: the auction (Market 1) cleared by OpenGridGym vs CVXPY + Clarabel.

For IEEE 34 (UC1's strategic order book: 33 orders) and random trees of 1k and
10k buses (about 2 orders per bus), side by side in one run:
  * CVXPY from scratch: build the problem and solve it (what a script does once);
  * CVXPY parameterised: compile once with cp.Parameter bids and limits, then
    re-solve with new bids (what a market loop does every round);
  * ours: `market_clear --repeat N` (release build), the exact tree algorithm
    with its workspace reused, and Clarabel (Rust) re-solving with the problem
    structure reused.
Prints medians and the ratio CVXPY re-solve / ours, and peak memory of our process.

    cargo build --release -p ogg-market --example market_clear
    python3 bench/market_vs_cvxpy.py [--sizes 34,1000,10000] [--repeat 200]

The random trees are "feeder-like": each bus hangs off one of the last three
buses with probability 0.7, else off any earlier bus; 60 % of edges limited.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
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

from test_market_vs_cvxpy import IEEE34_LOADS, random_book, random_tree  # noqa: E402


def find_binary() -> Path:
    for profile in ("release", "debug"):
        exe = ROOT / "target" / profile / "examples" / "market_clear"
        if exe.is_file():
            if profile == "debug":
                print("warning: using the debug build; build with --release for real numbers", file=sys.stderr)
            return exe
    sys.exit("build first: cargo build --release -p ogg-market --example market_clear")


def write_csv(path: Path, header, rows) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def ieee34_case(tmp: Path):
    shared = Path(os.environ.get("OGG_SHARED", ROOT.parent / "shared"))
    dss = shared / "feeders" / "ieee34" / "ieee34Mod1.dss"
    feeder = str(dss) if dss.is_file() else "ieee34"
    orders = [["head", "800", "sell", 4.3, 4.3, 930.0, 0.0]]
    for name, bus in [("g802", "802"), ("g808", "808"), ("g830", "830"), ("g848", "848")]:
        orders.append([name, bus, "sell", 12.6, 3.6, 930.0, 0.0])
    for bus, kw in IEEE34_LOADS.items():
        orders.append([f"c{bus}", bus, "buy", 50.0, 15.0, kw, 0.9 * kw])
    limits = [["800", "802", 860.0], ["802", "806", 935.0], ["808", "812", 1016.0]]
    return feeder, orders, limits


def run_ours(exe: Path, feeder: str, orders, limits, tmp: Path, algorithm: str, repeat: int) -> dict:
    write_csv(tmp / "orders.csv", ["id", "bus", "side", "p_max", "p_min", "q_max", "q_min"], orders)
    cmd = [str(exe), "--feeder", feeder, "--orders", str(tmp / "orders.csv"), "--out", str(tmp / "out"),
           "--algorithm", algorithm, "--repeat", str(repeat)]
    if limits:
        write_csv(tmp / "limits.csv", ["from_bus", "to_bus", "limit_kw"], limits)
        cmd += ["--limits", str(tmp / "limits.csv")]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def edges_from_our_lines(tmp: Path):
    with open(tmp / "out" / "lines.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    edges = [(r["from_bus"], r["to_bus"], float(r["limit_kw"])) for r in rows]
    buses = sorted({b for e in edges for b in e[:2]})
    return buses, edges


def matrices(buses, edges, orders):
    """Sparse incidence data shared by both CVXPY formulations."""
    import scipy.sparse as sp

    idx = {b.lower(): i for i, b in enumerate(buses)}
    n, k, m = len(buses), len(orders), len(edges)
    rows = [idx[o[1].lower()] for o in orders]
    vals = [1.0 if o[2] == "buy" else -1.0 for o in orders]
    order_bus = sp.csr_matrix((vals, (rows, list(range(k)))), shape=(n, k))
    r2, c2, v2 = [], [], []
    for e, (a, b, _) in enumerate(edges):
        r2 += [idx[b.lower()], idx[a.lower()]]
        c2 += [e, e]
        v2 += [1.0, -1.0]
    incidence = sp.csr_matrix((v2, (r2, c2)), shape=(n, m))
    return order_bus, incidence


def bid_arrays(orders):
    p_max = np.array([float(o[3]) for o in orders])
    p_min = np.array([float(o[4]) for o in orders])
    q_max = np.array([float(o[5]) for o in orders])
    q_min = np.array([float(o[6]) for o in orders])
    buy = np.array([o[2] == "buy" for o in orders], dtype=float)
    slope = (p_max - p_min) / (q_max - q_min)
    # Objective as ½ Σ s q² + c·q (minimise −welfare), constants dropped.
    lin = np.where(buy > 0, -(p_max + slope * q_min), p_min - slope * q_min)
    return slope, lin, q_min, q_max


def cvxpy_from_scratch(buses, edges, orders):
    order_bus, incidence = matrices(buses, edges, orders)
    slope, lin, q_min, q_max = bid_arrays(orders)
    limits = np.array([e[2] for e in edges])
    fin = np.where(np.isfinite(limits))[0]
    t0 = time.perf_counter()
    q = cp.Variable(len(orders))
    f = cp.Variable(len(edges))
    objective = 0.5 * cp.sum(cp.multiply(slope, cp.square(q))) + lin @ q
    cons = [order_bus @ q - incidence @ f == 0, q >= q_min, q <= q_max, cp.abs(f[fin]) <= limits[fin]]
    prob = cp.Problem(cp.Minimize(objective), cons)
    prob.solve(solver=cp.CLARABEL)
    return time.perf_counter() - t0, prob.status


class ParametrisedAuction:
    """Compiled once; new bids and limits go in through parameters."""

    def __init__(self, buses, edges, orders):
        order_bus, incidence = matrices(buses, edges, orders)
        k, m = len(orders), len(edges)
        limits = np.array([e[2] for e in edges])
        self.fin = np.where(np.isfinite(limits))[0]
        self.sqrt_slope = cp.Parameter(k, nonneg=True)
        self.lin = cp.Parameter(k)
        self.q_min = cp.Parameter(k)
        self.q_max = cp.Parameter(k)
        self.limits = cp.Parameter(len(self.fin), nonneg=True)
        q = cp.Variable(k)
        f = cp.Variable(m)
        # ½ Σ s q² written DPP-compliantly as ½‖√s ∘ q‖².
        objective = 0.5 * cp.sum_squares(cp.multiply(self.sqrt_slope, q)) + self.lin @ q
        cons = [order_bus @ q - incidence @ f == 0, q >= self.q_min, q <= self.q_max, cp.abs(f[self.fin]) <= self.limits]
        self.prob = cp.Problem(cp.Minimize(objective), cons)
        self.limit_values = limits[self.fin]

    def solve(self, orders):
        slope, lin, q_min, q_max = bid_arrays(orders)
        self.sqrt_slope.value = np.sqrt(slope)
        self.lin.value = lin
        self.q_min.value = q_min
        self.q_max.value = q_max
        self.limits.value = self.limit_values
        t0 = time.perf_counter()
        self.prob.solve(solver=cp.CLARABEL)
        return time.perf_counter() - t0, self.prob.status


def perturb(orders, rng):
    """New bids of the same shape (a new market round)."""
    out = []
    for o in orders:
        o = list(o)
        if float(o[3]) > float(o[4]):
            o[3] = float(o[3]) * (1 + 0.02 * rng.random())
        out.append(o)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="34,1000,10000")
    ap.add_argument("--repeat", type=int, default=200, help="our clearings per case (median reported)")
    ap.add_argument("--cvxpy-repeat", type=int, default=5)
    ap.add_argument("--skip-param-above", type=int, default=10**9,
                    help="skip CVXPY's parameterised problem above this many buses (its compile is memory hungry)")
    args = ap.parse_args()
    exe = find_binary()
    rng = np.random.default_rng(7)
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            if size == 34:
                name = "IEEE 34 (UC1 book)"
                feeder, orders, limits = ieee34_case(tmp)
            else:
                name = f"random tree {size}"
                case_rng = np.random.default_rng(size)
            reps = args.repeat if size <= 1000 else max(10, args.repeat // 10)
            for attempt in range(20):
                if size != 34:
                    # A random book can be infeasible (hard minimums behind a tight line): draw again.
                    buses, edges = random_tree(case_rng, size, limited=0.6)
                    write_csv(tmp / "feeder.csv", ["from_bus", "to_bus", "limit_kw"], [[a, b, l] for a, b, l in edges])
                    feeder, limits = str(tmp / "feeder.csv"), None
                    orders = random_book(case_rng, buses, size, "b0")
                tree = run_ours(exe, feeder, orders, limits, tmp, "tree", reps)
                if tree["status"] == "cleared":
                    break
            else:
                sys.exit(f"{name}: no feasible random book in 20 draws")
            ours_clarabel = run_ours(exe, feeder, orders, limits, tmp, "clarabel", max(5, reps // 10))
            buses, edges = edges_from_our_lines(tmp)
            scratch = [cvxpy_from_scratch(buses, edges, orders)[0] for _ in range(args.cvxpy_repeat if size <= 1000 else 2)]
            param_first = param_resolve = float("nan")
            if size <= args.skip_param_above:
                t0 = time.perf_counter()
                par = ParametrisedAuction(buses, edges, orders)
                par.solve(orders)
                param_first = time.perf_counter() - t0
                times = [par.solve(perturb(orders, rng))[0] for _ in range(args.cvxpy_repeat)]
                param_resolve = statistics.median(times)
            row = {
                "case": name,
                "buses": tree["buses"],
                "orders": tree["orders"],
                "ours_tree_s": tree["median_s"],
                "ours_clarabel_s": ours_clarabel["median_s"],
                "ours_peak_rss_mb": max(tree["peak_rss_mb"], ours_clarabel["peak_rss_mb"]),
                "cvxpy_scratch_s": statistics.median(scratch),
                "cvxpy_param_first_s": param_first,
                "cvxpy_resolve_s": param_resolve,
                "kkt_max": tree["kkt_max"],
            }
            row["speedup_vs_resolve"] = row["cvxpy_resolve_s"] / row["ours_tree_s"]
            results.append(row)
            print(json.dumps(row), flush=True)
    peak_py_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(f"| case | buses | orders | ours (tree) | ours (Clarabel, Rust) | CVXPY scratch | CVXPY param. first | CVXPY re-solve | re-solve / ours | our peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['case']} | {r['buses']} | {r['orders']} | {r['ours_tree_s']*1e6:.1f} µs | {r['ours_clarabel_s']*1e3:.2f} ms | "
            f"{r['cvxpy_scratch_s']*1e3:.1f} ms | {r['cvxpy_param_first_s']:.2f} s | {r['cvxpy_resolve_s']*1e3:.1f} ms | "
            f"{r['speedup_vs_resolve']:.0f}× | {r['ours_peak_rss_mb']:.1f} MB |"
        )
    print(f"\nPeak memory of this Python process (CVXPY): {peak_py_mb:.0f} MB")


if __name__ == "__main__":
    main()
