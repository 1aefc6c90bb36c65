"""Sweeps: the local runner (Rust threads) and Ray give the same table."""
from __future__ import annotations

import os

import pytest

from opengridgym.ai import sweep
from opengridgym.ai.sweeps import expand, main

SPEC = {
    "base": {"scenario": "uc1", "learners": ["g848"], "grid": "none", "episode_steps": 24},
    "markets": {"nodal": {"settlement": "nodal"}, "budget-balanced": {"settlement": "rent_to_buyers"}},
    "populations": {"truthful": {"others": "truthful"}, "strategic": {"others": "scripted"}},
    "actions": [0.0, 0.75],
    "seeds": [0, 1],
}


def test_local_sweep_table():
    rows = sweep(SPEC)
    assert len(rows) == 2 * 2 * 2 * 2
    assert [r["run"] for r in rows] == list(range(16))
    assert all(r["error"] is None and r["steps"] == 24 and r["learner"] == "g848" for r in rows)
    # One thread or all cores: the same numbers.
    assert sweep(SPEC, num_threads=1) == rows

    def get(market, population, action, seed=0):
        return next(r for r in rows if (r["market"], r["population"], r["action"], r["seed"]) == (market, population, action, seed))

    # With strategic competitors the evening peak congests and a markup raises the tail's price.
    strategic = get("nodal", "strategic", 0.75)
    assert strategic["congested_steps"] > 0
    assert strategic["mean_price"] > get("nodal", "strategic", 0.0)["mean_price"]
    # The settlement moves the congestion rent, not the dispatch.
    assert get("budget-balanced", "strategic", 0.75)["welfare"] == pytest.approx(strategic["welfare"])


def test_bad_runs_and_keys():
    with pytest.raises(ValueError, match="unknown sweep keys"):
        expand({"basis": {}})
    rows = sweep({"base": {"scenario": "uc1", "learners": ["nobody"], "grid": "none"}})
    assert rows[0]["error"] and "nobody" in rows[0]["error"]


def test_command_line(tmp_path):
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        "actions = [0.0, 1.0]\nseeds = [4]\n"
        '[base]\nscenario = "uc1"\nlearners = ["g848"]\ngrid = "none"\nepisode_steps = 3\n'
        '[populations.strategic]\nothers = "scripted"\n'
    )
    out = tmp_path / "table.csv"
    assert main([str(spec), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("run,market,population,action,seed,learner,reward")
    assert len(lines) == 3


def test_ray_sweep_equals_local():
    ray = pytest.importorskip("ray")
    import shutil
    import tempfile

    small = dict(SPEC, seeds=[0])
    local = sweep(small)
    # Ray's socket paths must stay under 108 bytes: a short temp dir of our own.
    temp = tempfile.mkdtemp(prefix="ogg-ray-", dir="/tmp" if os.path.isdir("/tmp") else None)
    ray.init(num_cpus=2, _temp_dir=temp, include_dashboard=False, log_to_driver=False)
    try:
        remote = sweep(small, ray_address="local")
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    assert remote == local
