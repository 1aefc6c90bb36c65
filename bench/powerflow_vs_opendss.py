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
(crates/grid/examples/bench_powerflow.rs, built with --release; it prints JSON), which
measures the same three phases on the same files; the table shows the ratio
OpenDSS time / our time (> 1 means we are faster).

Synthetic radial feeders (1k and 10k nodes): this script writes the example's synthetic
feeder (`ogg_grid::synthetic::script(nodes, seed 1)`, ported below) as a .dss file, and both
OpenDSS and our example (given the file's path) solve that same file.

External feeders: with $OGG_EXTERNAL_FEEDERS set (a folder holding
ieee123/IEEE123Master.dss and/or ieee8500/Master.dss, which are not in the repository),
those masters get rows too; both engines compile the same file (the masters have no Solve;
the 8500-node one is read through a wrapper that adds `Set MaxIterations=100`, since it does
not converge in the default 15).

Usage: python3 bench/powerflow_vs_opendss.py [--repeats 20] [--feeder ieee13 ...]
       [--no-ours] [--no-synthetic] [--json OUT]
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
# Under $OGG_EXTERNAL_FEEDERS (not in the repository).
EXTERNAL = {"ieee123": "ieee123/IEEE123Master.dss", "ieee8500": "ieee8500/Master.dss"}
# Settings appended after the master (through a small wrapper script both engines read):
# the 8500-node feeder does not converge within OpenDSS's default 15 iterations.
EXTERNAL_SETTINGS = {"ieee8500": "Set MaxIterations=100"}

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
    """Compile / first solve / load-change re-solve timings of one master, in ms (medians).

    The re-solve mirrors the example: every load x1.01 then Solve, cumulatively, going back
    to nominal (untimed) once the source power passes 1.5x its first-solve value."""
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
    first_power_kw = -circuit.TotalPower[0]

    def set_loads(factor: float) -> None:
        more, i = loads.First, 0
        while more:
            loads.kW = nominal[i] * factor
            more, i = loads.Next, i + 1

    factor = 1.0
    for _ in range(max(3 * repeats, 60)):
        factor *= 1.01
        t0 = time.perf_counter_ns()
        set_loads(factor)
        t1 = time.perf_counter_ns()
        circuit.Solution.Solve()
        t2 = time.perf_counter_ns()
        edit_ns.append(t1 - t0)
        resolve_ns.append(t2 - t0)
        if -circuit.TotalPower[0] > 1.5 * first_power_kw:
            factor = 1.0
            set_loads(factor)
            circuit.Solution.Solve()
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


def run_ours(exe: Path, targets: list[str], repeats: int) -> dict[str, dict]:
    """Time `targets` (built-in feeder names or .dss paths) with the example; by target."""
    command = [str(exe), *targets, "--synthetic", "none", "--reps", str(repeats)]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    data = json.loads(result.stdout)
    return {entry["feeder"]: entry for entry in data["feeders"]}


def run_ours_synthetic(exe: Path, nodes: int, repeats: int) -> dict:
    """The example's own synthetic feeder (generated in Rust), to check our port of it.
    (The example always times some feeder too; ieee13 is the cheapest.)"""
    command = [str(exe), "ieee13", "--synthetic", str(nodes), "--reps", str(repeats)]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    return json.loads(result.stdout)["synthetic"][0]


class SplitMix64:
    """The example's random generator (ogg_grid::synthetic::Rng)."""

    MASK = (1 << 64) - 1

    def __init__(self, seed: int):
        self.state = seed & self.MASK

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def uniform(self) -> float:
        return (self.next() >> 11) / float(1 << 53)


def synthetic_script(nodes: int, seed: int = 1) -> str:
    """Port of ogg_grid::synthetic::script: a 12.47 kV radial tree, 3 nodes per bus."""
    buses = max(nodes // 3, 2)
    rng = SplitMix64(seed ^ 0x5EED)
    out = ["Clear",
           f"New Circuit.synthetic{nodes} basekv=12.47 pu=1.02 phases=3 bus1=b0 mvasc3=200 mvasc1=210",
           "New LineCode.oh nphases=3 r1=0.19 x1=0.38 r0=0.58 x0=1.25 c1=9.6 c0=4.4 units=km normamps=400"]
    per_bus = 3000.0 / (buses - 1)
    for i in range(1, buses):
        lo = i // 2
        parent = min(lo + int((i - lo) * rng.uniform()), i - 1)
        length = 0.05 + 0.15 * rng.uniform()
        out.append(f"New Line.l{i} bus1=b{parent} bus2=b{i} linecode=oh length={length:.4f} units=km")
        kind = rng.next() % 6
        kw = per_bus * (0.5 + rng.uniform())
        kvar = kw * 0.4
        if kind <= 2:
            model = [1, 2, 5][kind]
            out.append(f"New Load.d{i} bus1=b{i} phases=3 conn=wye kv=12.47 kw={kw:.4f} kvar={kvar:.4f} model={model}")
        else:
            phase = 1 + i % 3
            out.append(f"New Load.d{i} bus1=b{i}.{phase} phases=1 conn=wye kv=7.2 kw={kw:.4f} kvar={kvar:.4f} model=1")
    out += ["Set VoltageBases=[12.47]", "CalcVoltageBases"]
    return "\n".join(out) + "\n"


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
    header = f"{'feeder':<20} {'nodes':>6} {'phase':<14} {'OpenDSS ms':>11} {'ours ms':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for row in rows:
        nodes = row.get("opendss", {}).get("nodes") or row.get("ours", {}).get("nodes") or ""
        for label, key in PHASES:
            o = row.get("opendss", {}).get(key)
            u = row.get("ours", {}).get(key)
            print(f"{row['name']:<20} {nodes:>6} {label:<14} {fmt_ms(o):>11} {fmt_ms(u):>9} {ratio(o, u):>7}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--feeder", action="append", help="only these feeders (repeatable)")
    parser.add_argument("--no-ours", action="store_true", help="time OpenDSS only")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the synthetic feeders")
    parser.add_argument("--sizes", default=",".join(map(str, SYNTHETIC_SIZES)),
                        help="synthetic feeder node counts (comma-separated)")
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
    feeders = [f for f in (args.feeder or FEEDERS) if f not in EXTERNAL]
    sizes = [] if args.no_synthetic else [int(n) for n in args.sizes.split(",") if n]
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="ogg-bench-") as tmp:
        workdir = Path(tmp)
        targets = {}
        for name in feeders:
            master = master_without_solve(FEEDER_DIR / name, workdir)
            rows.append({"name": name, "opendss": time_opendss(dss, master, args.repeats)})
            targets[name] = name  # the example reads its embedded copy of the same files
        external_root = os.environ.get("OGG_EXTERNAL_FEEDERS")
        wanted = [n for n in EXTERNAL if not args.feeder or n in args.feeder]
        for name in wanted if external_root else []:
            rel = EXTERNAL[name]
            path = Path(external_root) / rel
            if not path.is_file():
                notes.append(f"{name}: skipped, {path} not found")
                continue
            if name in EXTERNAL_SETTINGS:
                wrapper = workdir / f"{name}_bench.dss"
                wrapper.write_text(f'Redirect "{path.resolve()}"\n{EXTERNAL_SETTINGS[name]}\n')
                notes.append(f"{name}: {EXTERNAL_SETTINGS[name]} after the master")
                path = wrapper
            rows.append({"name": name, "opendss": time_opendss(dss, path, args.repeats)})
            targets[name] = str(path)
        for nodes in sizes:
            path = workdir / f"synthetic{nodes}.dss"
            path.write_text(synthetic_script(nodes))
            repeats = args.repeats if nodes <= 1000 else max(3, args.repeats // 4)
            rows.append({"name": f"synthetic{nodes}", "opendss": time_opendss(dss, path, repeats)})
            targets[f"synthetic{nodes}"] = str(path)
        if exe is not None:
            ours = run_ours(exe, list(targets.values()), args.repeats)
            for row in rows:
                row["ours"] = ours[targets[row["name"]]]
            for nodes in sizes:
                # Our .dss must be the example's own synthetic feeder: same size and iterations.
                native = run_ours_synthetic(exe, nodes, 3)
                mine = ours[targets[f"synthetic{nodes}"]]
                same = (native["nodes"], native["iterations_first"]) == (mine["nodes"], mine["iterations_first"])
                notes.append(
                    f"synthetic{nodes}: port of ogg_grid::synthetic::script "
                    f"{'matches' if same else 'DIFFERS FROM'} the example's own feeder "
                    f"(nodes {mine['nodes']}/{native['nodes']}, first-solve iterations "
                    f"{mine['iterations_first']}/{native['iterations_first']}; its own compile "
                    f"{native['compile_ms']:.2f} ms, first solve {native['first_solve_ms']:.2f} ms)"
                )

    print()
    print_table(rows)
    for note in notes:
        print(note)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
