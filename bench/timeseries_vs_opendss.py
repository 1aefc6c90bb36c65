#!/usr/bin/env python3
"""Daily time series, OpenGridGym vs OpenDSS side by side (one run, same machine).

    python3 bench/timeseries_vs_opendss.py [FEEDER ...] [--steps 24] [--stepsize 3600] [--mode daily]

(e.g. `--mode yearly --steps 8760 ieee34` for a year of hours).

For each built-in feeder (default ieee34mod2): OpenDSS (dss-python) compiles
the feeder's master.dss, runs `Set mode=daily number=N stepsize=S hour=0` and
one timed `Solve` (median over fresh compiles); OpenGridGym runs the same from
a freshly compiled circuit (`cargo run --release -p ogg-grid --example
bench_timeseries`, median, compile not included on either side; `ogg_ms`
with the per-step table's source power, losses and voltage range, and
`ogg_solve_only_ms` without them, as OpenDSS's Solve). Both use the
loads' daily shapes as the script sets them. Writes
bench/results/timeseries_vs_opendss.json and prints a table."""
import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

import dss

root = Path(__file__).resolve().parent.parent


def opendss_daily_ms(feeder, steps, stepsize, mode="daily", reps=20):
    eng = dss.DSS
    eng.AllowForms = False
    master = root / "crates" / "grid" / "feeders" / feeder / "master.dss"
    samples = []
    for _ in range(reps):
        eng.Text.Command = "clear"
        eng.Text.Command = f'compile "{master}"'
        eng.Text.Command = f"set mode={mode} number={steps} stepsize={stepsize}s hour=0"
        t = time.perf_counter()
        eng.ActiveCircuit.Solution.Solve()
        samples.append((time.perf_counter() - t) * 1e3)
        assert eng.ActiveCircuit.Solution.Converged
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("feeders", nargs="*", default=["ieee34mod2"])
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--stepsize", type=float, default=3600.0)
    ap.add_argument("--mode", choices=["daily", "yearly", "duty"], default="daily")
    a = ap.parse_args()
    out = subprocess.run(
        ["cargo", "run", "-q", "--release", "-p", "ogg-grid", "--example", "bench_timeseries", "--",
         *a.feeders, "--steps", str(a.steps), "--stepsize", str(a.stepsize), "--mode", a.mode],
        cwd=root, check=True, capture_output=True, text=True).stdout
    ours = {r["feeder"]: r for r in json.loads(out)}
    rows = []
    for f in a.feeders:
        theirs = opendss_daily_ms(f, a.steps, a.stepsize, a.mode, reps=20 if a.steps <= 1000 else 5)
        rows.append({"feeder": f, "mode": a.mode, "steps": a.steps, "stepsize_s": a.stepsize,
                     "opendss_ms": round(theirs, 4), "ogg_ms": ours[f]["daily_ms"],
                     "ogg_solve_only_ms": ours[f]["solve_only_ms"],
                     "speedup": round(theirs / ours[f]["daily_ms"], 2),
                     "speedup_solve_only": round(theirs / ours[f]["solve_only_ms"], 2)})
    print(f"{'feeder':<20}{'steps':>6}{'OpenDSS ms':>12}{'ogg ms':>10}{'speedup':>9}{'solve-only ms':>15}{'speedup':>9}")
    for r in rows:
        print(f"{r['feeder']:<20}{r['steps']:>6}{r['opendss_ms']:>12.3f}{r['ogg_ms']:>10.3f}{r['speedup']:>9.2f}"
              f"{r['ogg_solve_only_ms']:>15.3f}{r['speedup_solve_only']:>9.2f}")
    (root / "bench" / "results").mkdir(exist_ok=True)
    name = "timeseries_vs_opendss.json" if a.mode == "daily" and a.steps == 24 else f"timeseries_vs_opendss_{a.mode}_{a.steps}.json"
    (root / "bench" / "results" / name).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
