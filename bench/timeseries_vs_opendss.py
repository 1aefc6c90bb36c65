#!/usr/bin/env python3
"""Daily time series, OpenGridGym vs OpenDSS side by side (one run, same machine).

    python3 bench/timeseries_vs_opendss.py [FEEDER ...] [--steps 24] [--stepsize 3600] [--mode daily] [--rounds 1]

(e.g. `--mode yearly --steps 8760 ieee34` for a year of hours).

For each built-in feeder (default ieee34mod2): OpenDSS (dss-python) compiles
the feeder's master.dss, runs `Set mode=daily number=N stepsize=S hour=0` and
one timed `Solve` (median over fresh compiles); OpenGridGym runs the same from
a freshly compiled circuit (`cargo run --release -p ogg-grid --example
bench_timeseries`, median, compile not included on either side; `ogg_ms`
with the per-step table's source power, losses and voltage range, and
`ogg_solve_only_ms` without them, as OpenDSS's Solve). Both use the
loads' daily shapes as the script sets them. `--rounds R` repeats the pair R
times, ours and OpenDSS alternated, and reports each ratio as the median of
the rounds' own ratios with their range (on a machine whose speed drifts,
as a shared one's does, a single pair compares two different moments).
Writes bench/results/timeseries_vs_opendss.json (or
..._MODE_STEPS.json) and prints a table."""
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
    ap.add_argument("--rounds", type=int, default=1, help="alternated (ours, OpenDSS) pairs; ratios are the rounds' median")
    a = ap.parse_args()
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    per_round = []
    for _ in range(a.rounds):
        out = subprocess.run(
            ["cargo", "run", "-q", "--release", "-p", "ogg-grid", "--example", "bench_timeseries", "--",
             *a.feeders, "--steps", str(a.steps), "--stepsize", str(a.stepsize), "--mode", a.mode],
            cwd=root, check=True, capture_output=True, text=True).stdout
        ours = {r["feeder"]: r for r in json.loads(out)}
        theirs = {f: opendss_daily_ms(f, a.steps, a.stepsize, a.mode, reps=20 if a.steps <= 1000 else 5)
                  for f in a.feeders}
        per_round.append((ours, theirs))
    med = statistics.median
    rows = []
    for f in a.feeders:
        opendss = [t[f] for _, t in per_round]
        table = [o[f]["daily_ms"] for o, _ in per_round]
        solve = [o[f]["solve_only_ms"] for o, _ in per_round]
        ratio = [t / o for t, o in zip(opendss, table)]
        ratio_solve = [t / o for t, o in zip(opendss, solve)]
        row = {"feeder": f, "mode": a.mode, "steps": a.steps, "stepsize_s": a.stepsize,
               "opendss_ms": round(med(opendss), 4), "ogg_ms": round(med(table), 4),
               "ogg_solve_only_ms": round(med(solve), 4),
               "speedup": round(med(ratio), 2), "speedup_solve_only": round(med(ratio_solve), 2)}
        if a.rounds > 1:
            row.update({"rounds": a.rounds,
                        "speedup_range": [round(min(ratio), 2), round(max(ratio), 2)],
                        "speedup_solve_only_range": [round(min(ratio_solve), 2), round(max(ratio_solve), 2)]})
        rows.append(row)
    print(f"{'feeder':<20}{'steps':>6}{'OpenDSS ms':>12}{'ogg ms':>10}{'speedup':>9}{'solve-only ms':>15}{'speedup':>9}")
    for r in rows:
        print(f"{r['feeder']:<20}{r['steps']:>6}{r['opendss_ms']:>12.3f}{r['ogg_ms']:>10.3f}{r['speedup']:>9.2f}"
              f"{r['ogg_solve_only_ms']:>15.3f}{r['speedup_solve_only']:>9.2f}"
              + (f"   solve-only runs {r['speedup_solve_only_range'][0]:.2f}–{r['speedup_solve_only_range'][1]:.2f}"
                 if a.rounds > 1 else ""))
    if a.rounds > 1:
        print(f"(times: medians over {a.rounds} alternated rounds; speedups: the median of the rounds' own ratios)")
    (root / "bench" / "results").mkdir(exist_ok=True)
    name = "timeseries_vs_opendss.json" if a.mode == "daily" and a.steps == 24 else f"timeseries_vs_opendss_{a.mode}_{a.steps}.json"
    (root / "bench" / "results" / name).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
