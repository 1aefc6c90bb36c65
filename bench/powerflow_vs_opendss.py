#!/usr/bin/env python3
"""Power-flow timings: OpenDSS (dss-python) against our engine, on the built-in feeders.

For each feeder, OpenDSS is timed on our own feeder files (crates/grid/feeders/<name>):
* compile     -- `Clear` + `Compile master.dss` (a copy of the master without its Solve,
                  so that compiling does not also solve);
* first solve -- `Solve` right after compiling (default tolerance, controls on: the
                  reference cases' state);
* re-solve    -- every load's kW set through the Loads API (alternately x1.01 and back to
                  nominal, so each step is a 1% change) and `Solve` again; the time includes
                  the API edits, as a Python user would pay them.
Medians over --repeats runs. Our engine's numbers come from its benchmark example
(`cargo run --release -p ogg-grid --example bench_powerflow -- <feeder>`, JSON on stdout);
the table shows the ratio OpenDSS time / our time (> 1 means we are faster).

Synthetic radial feeders (1k and 10k nodes) are timed with our engine, and with OpenDSS
when the example can write the same feeder as a .dss script (see `synthetic_dss`).

Usage: python3 bench/powerflow_vs_opendss.py [--repeats 20] [--feeder ieee13 ...]
       [--no-ours] [--ours-json FILE] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FEEDER_DIR = REPO_ROOT / "crates" / "grid" / "feeders"
EXAMPLE_SOURCE = REPO_ROOT / "crates" / "grid" / "examples" / "bench_powerflow.rs"
FEEDERS = ["ieee13", "ieee34", "ieee34mod2", "ieee34_opengridgym", "ieee37"]
SYNTHETIC_SIZES = [1000, 10000]

# Each table row: (label, OpenDSS key, our key)
PHASES = [("compile", "compile_ms"), ("first solve", "first_solve_ms"), ("re-solve +1%", "resolve_ms")]


def median_ms(samples_ns: list[int]) -> float:
    return statistics.median(samples_ns) / 1e6


def master_without_solve(feeder_dir: Path, workdir: Path) -> Path:
    """Copy a feeder folder, dropping the master's `Solve` commands, and return the new master."""
    target = workdir / feeder_dir.name
    shutil.copytree(feeder_dir, target)
    master = target / "master.dss"
    lines = master.read_text().splitlines()
    kept = [line for line in lines if not re.fullmatch(r"\s*solve\s*(!.*)?", line, flags=re.IGNORECASE)]
    master.write_text("\n".join(kept) + "\n")
    return master


def time_opendss(dss, master: Path, repeats: int) -> dict:
    """Compile / first solve / load-change re-solve timings of one master, in ms (medians)."""
    text, circuit = dss.Text, None
    compile_ns, solve_ns, resolve_ns, edit_ns = [], [], [], []
    iterations = None
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        text.Command = "clear"
        text.Command = f'compile "{master}"'
        t1 = time.perf_counter_ns()
        circuit = dss.ActiveCircuit
        circuit.Solution.Solve()
        t2 = time.perf_counter_ns()
        compile_ns.append(t1 - t0)
        solve_ns.append(t2 - t1)
        iterations = circuit.Solution.Iterations
    if not circuit.Solution.Converged:
        raise RuntimeError(f"OpenDSS did not converge on {master}")
    loads = circuit.Loads
    nominal = []
    more = loads.First
    while more:
        nominal.append(loads.kW)
        more = loads.Next
    for k in range(2 * repeats):
        factor = 1.01 if k % 2 == 0 else 1.0
        t0 = time.perf_counter_ns()
        more, i = loads.First, 0
        while more:
            loads.kW = nominal[i] * factor
            more, i = loads.Next, i + 1
        t1 = time.perf_counter_ns()
        circuit.Solution.Solve()
        t2 = time.perf_counter_ns()
        edit_ns.append(t1 - t0)
        resolve_ns.append(t2 - t0)
    return {
        "compile_ms": median_ms(compile_ns),
        "first_solve_ms": median_ms(solve_ns),
        "resolve_ms": median_ms(resolve_ns),
        "load_edit_ms": median_ms(edit_ns),
        "iterations": iterations,
        "loads": len(nominal),
        "nodes": circuit.NumNodes,
    }


# --- our engine -------------------------------------------------------------------------

def build_example() -> Path | None:
    """Build the benchmark example in release; returns its executable, or None if absent."""
    if not EXAMPLE_SOURCE.is_file():
        print(f"ours: skipped, {EXAMPLE_SOURCE.relative_to(REPO_ROOT)} does not exist yet")
        return None
    print("building bench_powerflow (release)...", flush=True)
    subprocess.run(
        ["cargo", "build", "--release", "-p", "ogg-grid", "--example", "bench_powerflow"],
        cwd=REPO_ROOT, check=True,
    )
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO_ROOT / "target"))
    exe = target / "release" / "examples" / "bench_powerflow"
    if not exe.is_file():
        raise FileNotFoundError(exe)
    return exe


def run_ours(exe: Path, *args: str) -> dict:
    """Run the example; it prints one JSON document on stdout."""
    result = subprocess.run([str(exe), *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"bench_powerflow {' '.join(args)} failed:\n{result.stderr}")
    return json.loads(result.stdout)


def ours_for_feeder(exe: Path, feeder: str) -> dict:
    data = run_ours(exe, feeder)
    # Accept either {"compile_ms": ...} or {"<feeder>": {...}} / {"feeders": {"<feeder>": {...}}}.
    if "compile_ms" in data:
        return data
    return data.get(feeder) or data["feeders"][feeder]


def synthetic_dss(exe: Path, nodes: int, workdir: Path) -> tuple[dict, Path | None]:
    """Our timings on a synthetic radial feeder, and the same feeder as .dss if the example can write it."""
    data = run_ours(exe, "synthetic", str(nodes))
    dss_path = data.get("dss_path")
    return data, Path(dss_path) if dss_path else None


# --- report -----------------------------------------------------------------------------

def ratio(opendss_ms: float | None, ours_ms: float | None) -> str:
    if opendss_ms is None or not ours_ms:
        return "-"
    return f"{opendss_ms / ours_ms:.1f}x"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def print_table(rows: list[dict]) -> None:
    header = f"{'feeder':<20} {'phase':<14} {'OpenDSS ms':>11} {'ours ms':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for row in rows:
        for label, key in PHASES:
            o = row.get("opendss", {}).get(key)
            u = row.get("ours", {}).get(key)
            if o is None and u is None:
                continue
            print(f"{row['name']:<20} {label:<14} {fmt_ms(o):>11} {fmt_ms(u):>9} {ratio(o, u):>7}")
        for key in ("solve_ms",):
            o = row.get("opendss", {}).get("first_solve_ms") if row.get("synthetic") else None
            u = row.get("ours", {}).get(key)
            if u is not None:
                print(f"{row['name']:<20} {'solve':<14} {fmt_ms(o):>11} {fmt_ms(u):>9} {ratio(o, u):>7}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--feeder", action="append", help="only these feeders (repeatable)")
    parser.add_argument("--no-ours", action="store_true", help="time OpenDSS only")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the synthetic feeders")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    try:
        from dss import DSS as dss
    except ImportError:
        print("dss-python is not installed: python3 -m pip install dss-python", file=sys.stderr)
        return 2
    print(f"OpenDSS: {dss.Version.splitlines()[0]}")
    dss.AllowForms = False

    exe = None if args.no_ours else build_example()
    feeders = args.feeder or FEEDERS
    rows = []
    with tempfile.TemporaryDirectory(prefix="ogg-bench-") as tmp:
        workdir = Path(tmp)
        for name in feeders:
            master = master_without_solve(FEEDER_DIR / name, workdir)
            row = {"name": name, "opendss": time_opendss(dss, master, args.repeats)}
            if exe is not None:
                row["ours"] = ours_for_feeder(exe, name)
            rows.append(row)
        if exe is not None and not args.no_synthetic:
            for nodes in SYNTHETIC_SIZES:
                ours, dss_file = synthetic_dss(exe, nodes, workdir)
                row = {"name": f"synthetic {nodes}", "synthetic": True, "ours": ours}
                if dss_file is not None:
                    row["opendss"] = time_opendss(dss, dss_file, max(3, args.repeats // 4))
                else:
                    row["note"] = "OpenDSS not timed: the example did not write the feeder as .dss"
                rows.append(row)

    print()
    print_table(rows)
    for row in rows:
        if "note" in row:
            print(f"{row['name']}: {row['note']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
