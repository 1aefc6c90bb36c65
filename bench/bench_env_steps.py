#!/usr/bin/env python3
"""Environment steps per second: OpenGridGym UC1 on IEEE 34 vs Grid2Op.

One OpenGridGym step = one grid step of use case 1 on IEEE 34: every agent
bids (28 consumers, the feeder head, four producers of which the learners take
random markups), the network-constrained auction clears (nodal prices), the
dispatch is applied to the feeder and the AC power flow is solved. Measured:

* rust single   -- the Rust loop, one environment on one core
                   (`crates/vector/examples/bench_uc1_steps.rs`, release build),
                   per second of wall time and per second the thread ran on a
                   core (Linux schedstat: what one core does on a shared machine);
* rust vector   -- the Rust `VecEnv`, 16 environments, 1 and 2 threads (release);
* python single -- `opengridgym._core.RlEnv.step` from Python (one env);
* python vector -- `opengridgym.ai.MarketVectorEnv` (Gymnasium VectorEnv over
                   the Rust vector env), 16 environments, 1 and 2 threads;
* grid2op       -- Grid2Op + lightsim2grid, do-nothing agent on its bundled
                   `l2rpn_case14_sandbox` (the issue's reference), run in the
                   virtualenv given by --grid2op-python (it has its own
                   dependencies); if it cannot run, the documented number
                   (1011 steps/s, engineering notes) is shown, marked as not
                   measured.

Usage:
    python bench/bench_env_steps.py [--seconds 3] [--envs 16] [--grid2op-python .venv-bench/bin/python]
The Python numbers use the extension as installed: build it as a user gets it
from `pip install .` with `maturin develop --release` first (a plain
`maturin develop` is the dev profile, our crates at opt-level 1, ~1.5x slower);
the Rust numbers a release build. Writes bench/results/env_steps.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED_GRID2OP = 1011.0  # steps/s, Grid2Op + lightsim2grid, l2rpn_case14_sandbox (engineering notes)
SPEC = {"scenario": "uc1", "grid": "ac"}
# The machine is shared: every number is the best of many short slices
# (noise from other jobs only ever slows a slice down).
SLICES = 10

GRID2OP_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import grid2op
from lightsim2grid import LightSimBackend
seconds = float(sys.argv[1])
env = grid2op.make("l2rpn_case14_sandbox", test=True, backend=LightSimBackend())
do_nothing = env.action_space()
env.reset()
# Best of 10 slices, like the OpenGridGym numbers (the machine is shared).
best, steps_total, episodes = 0.0, 0, 0
for _ in range(10):
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds / 10:
        obs, reward, done, info = env.step(do_nothing)
        steps += 1
        if done:
            env.reset()
            episodes += 1
    best = max(best, steps / (time.perf_counter() - start))
    steps_total += steps
print(json.dumps({"steps_per_s": best, "steps": steps_total, "episodes": episodes,
                  "grid2op": grid2op.__version__, "env": "l2rpn_case14_sandbox (test=True: bundled data)"}))
"""


def rust_loop(steps: int, envs: int, repeat: int) -> dict:
    exe = ROOT / "target" / "release" / "examples" / "bench_uc1_steps"
    print("building the Rust benchmark (release) ...", flush=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "ogg-vector", "--example", "bench_uc1_steps"], cwd=ROOT, check=True)
    out = subprocess.run(
        [str(exe), "--steps", str(steps), "--envs", str(envs), "--threads", "1,2", "--repeat", str(repeat), "--spec", json.dumps(SPEC)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def python_single(seconds: float) -> float:
    from opengridgym._core import RlEnv

    env = RlEnv(json.dumps(SPEC))
    n = len(env.describe()["learners"])
    rng = np.random.default_rng(0)
    actions = rng.uniform(0, 2, size=(1024, n, 1))
    env.reset(0)
    best = 0.0
    for _ in range(SLICES):
        steps = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds / SLICES:
            for k in range(64):
                _, _, te, tr = env.step(actions[k])
                if te or tr:
                    env.reset()
            steps += 64
        best = max(best, steps / (time.perf_counter() - start))
    return best


def python_vector(seconds: float, envs: int, threads: int) -> dict:
    from opengridgym.ai import MarketVectorEnv

    vec = MarketVectorEnv(envs, num_threads=threads, **SPEC)
    rng = np.random.default_rng(0)
    actions = [rng.uniform(0, 2, size=(vec.num_envs, 1)) for _ in range(32)]
    vec.reset(seed=0)
    vec.clear_thread_stats()
    best = 0.0
    for _ in range(SLICES):
        batches = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds / SLICES:
            for k in range(4):
                vec.step(actions[k % 32])
            batches += 4
        # Environment steps: each batch steps `envs` environments (not learner slots).
        best = max(best, batches * envs / (time.perf_counter() - start))
    return {"threads": threads, "envs": envs, "steps_per_s": best, "threads_used": vec.threads_used()}


def grid2op(python: str | None, seconds: float) -> dict:
    if not python:
        return {"measured": False, "steps_per_s": DOCUMENTED_GRID2OP, "why": "no --grid2op-python given"}
    try:
        out = subprocess.run([python, "-c", GRID2OP_SCRIPT, str(seconds)], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"measured": False, "steps_per_s": DOCUMENTED_GRID2OP, "why": str(e)}
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["?"]
        return {"measured": False, "steps_per_s": DOCUMENTED_GRID2OP, "why": tail[0]}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["measured"] = True
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="time per Python measurement")
    ap.add_argument("--steps", type=int, default=6000, help="steps of each timed Rust run")
    ap.add_argument("--repeat", type=int, default=15, help="timed Rust runs (best kept)")
    ap.add_argument("--envs", type=int, default=16)
    default_g2o = ROOT / ".venv-bench" / "bin" / "python"
    ap.add_argument("--grid2op-python", default=str(default_g2o) if default_g2o.exists() else None)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "env_steps.json"))
    args = ap.parse_args()

    rust = rust_loop(args.steps, args.envs, args.repeat)
    py_single = python_single(args.seconds)
    py_vec = [python_vector(args.seconds, args.envs, t) for t in (1, 2)]
    g2o = grid2op(args.grid2op_python, max(args.seconds, 5.0))
    ref = g2o["steps_per_s"]
    label = "Grid2Op + lightsim2grid (measured)" if g2o["measured"] else "Grid2Op + lightsim2grid (NOT measured: documented 1011)"

    rows = [("Rust loop, 1 env, 1 core (release), per second of wall time", rust["single_steps_per_s"])]
    if rust.get("single_steps_per_cpu_s") == rust.get("single_steps_per_cpu_s"):  # not NaN
        rows.append(("Rust loop, 1 env, per second on the core (thread CPU time)", rust["single_steps_per_cpu_s"]))
    rows += [(f"Rust VecEnv, {v['envs']} envs, {v['threads']} thread(s) (release)", v["steps_per_s"]) for v in rust["vector"]]
    rows.append(("Python RlEnv, 1 env (extension as installed)", py_single))
    rows += [(f"Python MarketVectorEnv, {v['envs']} envs, {v['threads']} thread(s) (as installed)", v["steps_per_s"]) for v in py_vec]
    rows.append((label, ref))

    print(f"\nUC1 on IEEE 34, market clearing + AC power flow per step; {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"{'':72s} {'steps/s':>10s} {'vs Grid2Op':>10s}")
    for name, rate in rows:
        print(f"{name:72s} {rate:10.0f} {rate / ref:9.1f}x")
    best_py_vec = max(v["steps_per_s"] for v in py_vec)
    one_core = max(rust["single_steps_per_s"], rust.get("single_steps_per_cpu_s") or 0.0)
    print(f"\ntarget >= 20,000 steps/s on one core (Rust loop): {one_core:,.0f} -> {'met' if one_core >= 20000 else 'NOT met'}")
    print(f"target >= 10x Grid2Op through the Python vector API: {best_py_vec / ref:.1f}x -> {'met' if best_py_vec / ref >= 10 else 'NOT met'}")
    s1 = next(v for v in rust["vector"] if v["threads"] == 1)["steps_per_s"]
    s2 = next((v for v in rust["vector"] if v["threads"] == 2), {"steps_per_s": float("nan")})["steps_per_s"]
    print(f"Rust VecEnv speed-up 2 threads / 1 thread: {s2 / s1:.2f}x (machine load at start: {os.getloadavg()[0]:.2f})")
    if not g2o["measured"]:
        print(f"Grid2Op not measured in this run: {g2o.get('why')}")

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "rust": rust, "python_single_steps_per_s": py_single, "python_vector": py_vec, "grid2op": g2o,
        "load_average": os.getloadavg(), "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
    }, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
