"""`ogg run uc2` end to end, checked against an independent NumPy computation.

* The exact fixed points written to base_policies.csv (what exact-expectation
  learners converge to) are recomputed here from the paper's definitions:
  Eq. (11) as printed and the logit response, iterated with the same damping
  from the uniform policy; they must agree to 1e-9, and satisfy the fixed-point
  equations to 1e-9.
* The learners of the paper (sampled estimator) land near the Eq. (11) fixed
  point; λ → 0 is uniform; the per-step trade probability and rewards in
  base_sweep.csv follow from the exact policies.
* The day's tables add up (trades per step, infeasible counts and energy).
"""
from __future__ import annotations

import csv
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

A = np.arange(21) * 0.5
UB, FEE, LOSE = 12.0, 0.5, 1.0


def payoffs():
    bp, bc = A[:, None], A[None, :]
    trade = bp <= bc
    up = np.where(trade, bp - FEE, -LOSE)  # up[own ask, opponent bid]
    uc = np.where(trade, UB - bp - FEE, -LOSE).T  # uc[own bid, opponent ask]
    return up, uc, trade


def softmax(x, lam, axis):
    z = lam * (x - x.max(axis=axis, keepdims=True))
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def response(dynamics, lam, u, opp):
    if dynamics == "eq11":
        # Σ_o π(o) softmax_a(λ u(a, o))
        return softmax(u, lam, 0) @ opp
    return softmax(u @ opp, lam, 0)


def fixed_point(dynamics, lam, step=0.5, tol=1e-12, iters=1_000_000):
    up, uc, _ = payoffs()
    p = np.full(21, 1 / 21)
    c = np.full(21, 1 / 21)
    for _ in range(iters):
        rp, rc = response(dynamics, lam, up, c), response(dynamics, lam, uc, p)
        if max(abs(rp - p).max(), abs(rc - c).max()) < tol:
            break
        p, c = p + step * (rp - p), c + step * (rc - c)
    return p, c


SMALL = """
scenario = "uc2"
name = "uc2-test"
[game]
min_price = 0.0
max_price = 10.0
price_step = 0.5
retail_price = 12.0
service_fee = 0.5
lose_cost = 1.0
[learning]
rounds = 10
estimator = "sampled"
step = 1.0
dynamics = ["eq11", "logit"]
[base]
producers = 5
consumers = 5
quantity_kwh = 3.0
episodes = 200
figure_lambdas = [0.5, 5.0]
sweep_lambdas = [0.01, 1.0]
seeds = 4
base_seed = 1
[day]
feeder = "ieee34"
steps = 64
step_minutes = 15
market_interval = 4
lambdas = [5.0]
dynamics = "eq11"
matchings = ["random", "max-weight"]
distance_weight = 0.5
pv_ratio_min = 0.0
pv_ratio_max = 3.0
thermal_share = 0.3
heat_store_hours = 2.0
store_loss_per_hour = 0.03
forecast_error = 0.1
cloudiness = 0.2
load_noise = 0.1
seed = 1
v_min_pu = 0.95
v_max_pu = 1.05
"""


def read(path: Path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def uc2_out(ogg_bin, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("uc2")
    toml = d / "small_uc2.toml"
    toml.write_text(SMALL)
    out = d / "out"
    run = subprocess.run([str(ogg_bin), "run", str(toml), "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"{run.stderr}\n(an `ogg` built before `ogg run uc2` existed fails here: `cargo build -p ogg-cli`)"
    assert "use case 2 ran" in run.stdout, run.stdout
    return out


def test_exact_fixed_points_match_numpy(uc2_out):
    rows = read(uc2_out / "base_policies.csv")
    by = defaultdict(lambda: {"producer": np.zeros(21), "consumer": np.zeros(21), "learned_p": np.zeros(21), "learned_c": np.zeros(21)})
    for r in rows:
        k = (r["dynamics"], float(r["lambda"]))
        a = int(round(float(r["price"]) / 0.5))
        by[k][r["role"]][a] = float(r["exact_probability"])
        by[k]["learned_p" if r["role"] == "producer" else "learned_c"][a] = float(r["learned_probability"])
    assert set(by) == {(d, l) for d in ("eq11", "logit") for l in (0.01, 0.5, 1.0, 5.0)}
    up, uc, _ = payoffs()
    for (dynamics, lam), pol in by.items():
        p, c = fixed_point(dynamics, lam)
        assert np.abs(pol["producer"] - p).max() < 1e-9, (dynamics, lam)
        assert np.abs(pol["consumer"] - c).max() < 1e-9, (dynamics, lam)
        # And they answer each other.
        res = max(
            np.abs(response(dynamics, lam, up, pol["consumer"]) - pol["producer"]).max(),
            np.abs(response(dynamics, lam, uc, pol["producer"]) - pol["consumer"]).max(),
        )
        assert res < 1e-9, (dynamics, lam, res)
        if dynamics == "eq11":
            # The paper's learners (10 samples per episode) average onto the fixed point.
            assert abs(A @ pol["learned_p"] - A @ p) < 0.1, (lam, A @ pol["learned_p"], A @ p)
        if lam == 0.01:
            assert np.abs(pol["learned_p"] - 1 / 21).max() < 0.02 and np.abs(pol["learned_c"] - 1 / 21).max() < 0.02


def test_sweep_numbers_follow_from_the_exact_policies(uc2_out):
    up, uc, trade = payoffs()
    for r in read(uc2_out / "base_sweep.csv"):
        p, c = fixed_point(r["dynamics"], float(r["lambda"]))
        pt = p @ trade @ c
        assert abs(float(r["exact_step_trade_probability"]) - pt) < 1e-9
        assert abs(float(r["exact_negotiation_success"]) - (1 - (1 - pt) ** 10)) < 1e-9
        assert abs(float(r["exact_producer_reward"]) - p @ up @ c) < 1e-9
        assert abs(float(r["exact_consumer_reward"]) - c @ uc @ p) < 1e-9
        assert float(r["exact_residual"]) < 1e-11
        assert int(r["seeds"]) == 4
    # Higher λ: higher asks and producer rewards (both dynamics).
    sweep = read(uc2_out / "base_sweep.csv")
    for d in ("eq11", "logit"):
        pts = sorted((float(r["lambda"]), float(r["producer_reward"])) for r in sweep if r["dynamics"] == d)
        assert all(b[1] > a[1] for a, b in zip(pts, pts[1:])), (d, pts)


def test_day_tables_add_up(uc2_out):
    trades = read(uc2_out / "day_trades.csv")
    steps = read(uc2_out / "day_steps.csv")
    summary = read(uc2_out / "day_summary.csv")
    assert {r["matching"] for r in summary} == {"random", "max-weight(β=0.5)"}
    for s in summary:
        mine = [t for t in trades if t["matching"] == s["matching"]]
        bad = [t for t in mine if t["feasible"] == "false"]
        assert int(s["infeasible_trades"]) == len(bad)
        size = sum(max(float(t["delivered_kwh"]), float(t["stored_kwh"])) for t in bad)
        assert abs(float(s["infeasible_kwh"]) - size) < 1e-6
        for t in bad:
            assert t["violation"] in ("overvoltage", "undervoltage", "overload") and float(t["relief"]) > 0
        assert abs(float(s["delivered_kwh"]) - sum(float(t["delivered_kwh"]) for t in mine)) < 1e-6
        assert 0 <= float(s["step_trade_probability"]) <= 1
    for st in steps:
        assert float(st["v_min_pu"]) <= float(st["v_max_pu"])
    svg = (uc2_out / "fig10_day_feasibility.svg").read_text()
    assert svg.startswith("<svg") and re.search(r"\d+ of \d+ infeasible", svg)
