#!/usr/bin/env python3
"""Our engine against OpenDSS (dss-python) on feeders that are not in the repository,
such as the IEEE 123-bus and IEEE 8500-node test feeders.

For each master script, both engines compile and `Solve` it (controls on; OpenDSS's
own Solve when the script has one) at the script's tolerance; then again with at most 200 iterations and, once converged,
re-solved at 1e-10, as `ogg powerflow --tolerance 1e-10 --max-iterations 200` does; compared after each are: convergence,
iteration and control-iteration counts, every regulator's tap, every capacitor's states,
source power, and every node voltage (|V_ours - V_OpenDSS| in per unit of the node's
base). Ours runs through the `ogg powerflow` command line (built with
`cargo build -p ogg-cli` unless $OGG_BIN names the binary).

Usage:
  python3 bench/compare_external_feeders.py [MASTER.dss ...] [--vtol 1e-6]
Without arguments the feeders are looked up under $OGG_EXTERNAL_FEEDERS:
  ieee123/IEEE123Master.dss, ieee8500/Master.dss, ieee13geom/IEEE13_LineAndCableSpacing.dss
(missing ones are skipped with a message; nothing to do is exit status 0).
Exit status: 0 when everything matches, 1 on a mismatch, 2 when dss-python is missing.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
KNOWN = {
    "ieee123": "ieee123/IEEE123Master.dss",
    "ieee8500": "ieee8500/Master.dss",
    # electricdss-tst's IEEE 13 with its cables from CNData/TSData on line spacings.
    "ieee13_cables": "ieee13geom/IEEE13_LineAndCableSpacing.dss",
}


def external_feeders() -> list[Path]:
    root = os.environ.get("OGG_EXTERNAL_FEEDERS")
    if not root:
        print("SKIPPED: set OGG_EXTERNAL_FEEDERS to the folder holding ieee123/ and ieee8500/")
        return []
    found = []
    for name, rel in KNOWN.items():
        path = Path(root) / rel
        if path.is_file():
            found.append(path)
        else:
            print(f"SKIPPED {name}: {path} not found")
    return found


def ogg_binary() -> Path:
    if os.environ.get("OGG_BIN"):
        # Resolved now: OpenDSS's `compile` changes the working directory.
        return Path(os.environ["OGG_BIN"]).resolve()
    subprocess.run(["cargo", "build", "-q", "-p", "ogg-cli"], cwd=REPO_ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO_ROOT / "target"))
    return (target / "debug" / "ogg").resolve()


def opendss_state(dss, master: Path, tight: bool) -> dict:
    text = dss.Text
    text.Command = "clear"
    text.Command = f'compile "{master}"'
    circuit = dss.ActiveCircuit
    solution = circuit.Solution
    if tight:
        # As `ogg powerflow --tolerance 1e-10 --max-iterations 200`: the iteration limit
        # applies to both solves; the script-tolerance solve first, then, when it
        # converged, a re-solve to the tight tolerance from there.
        text.Command = "set maxiterations=200"
    # `ogg powerflow` solves once; a script that ends with its own Solve has
    # already done that one in OpenDSS.
    if solution.Iterations == 0:
        solution.Solve()
    if tight and solution.Converged:
        text.Command = "set tolerance=1e-10"
        solution.Solve()
    names = circuit.AllNodeNames
    volts = circuit.AllBusVolts
    bases = {}
    for bus in circuit.AllBusNames:
        circuit.SetActiveBus(bus)
        bases[bus.lower()] = circuit.ActiveBus.kVBase * 1000.0
    voltages = {}
    for i, name in enumerate(names):
        bus = name.split(".")[0].lower()
        voltages[name.lower()] = (complex(volts[2 * i], volts[2 * i + 1]), bases[bus])
    taps, caps = {}, {}
    regs = circuit.RegControls
    more = regs.First
    while more:
        taps[regs.Name.lower()] = int(regs.TapNumber)
        more = regs.Next
    capacitors = circuit.Capacitors
    more = capacitors.First
    while more:
        caps[capacitors.Name.lower()] = [int(s) for s in capacitors.States]
        more = capacitors.Next
    power = circuit.TotalPower
    return {
        "converged": bool(solution.Converged),
        "iterations": int(solution.Iterations),
        "control_iterations": int(solution.ControlIterations),
        "power": (-power[0], -power[1]),
        "taps": taps,
        "capacitors": caps,
        "voltages": voltages,
    }


def our_state(binary: Path, master: Path, tight: bool, out: Path) -> dict:
    command = [str(binary), "powerflow", str(master), "--out", str(out), "--quiet"]
    if tight:
        command += ["--tolerance", "1e-10", "--max-iterations", "200"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}{result.stdout}")
    summary = json.loads((out / "summary.json").read_text())
    voltages = {}
    with open(out / "voltages.csv", newline="") as f:
        for row in csv.DictReader(f):
            v = complex(float(row["v_re"]), float(row["v_im"]))
            vpu = float(row["v_pu"])
            base = abs(v) / vpu if vpu else 0.0
            voltages[f"{row['bus']}.{row['node']}".lower()] = (v, base)
    return {
        "converged": summary["converged"],
        "iterations": summary["iterations"],
        "control_iterations": summary["control_iterations"],
        "power": (summary["total_power_kw"], summary["total_power_kvar"]),
        "taps": {k.lower(): v for k, v in summary["taps"].items()},
        "capacitors": {k.lower(): v for k, v in summary["capacitors"].items()},
        "voltages": voltages,
    }


def compare(name: str, ref: dict, ours: dict, vtol: float) -> list[str]:
    problems = []
    for key in ("converged", "iterations", "control_iterations"):
        if ref[key] != ours[key]:
            problems.append(f"{key}: OpenDSS {ref[key]}, ours {ours[key]}")
    for reg, tap in ref["taps"].items():
        if ours["taps"].get(reg) != tap:
            problems.append(f"regulator {reg}: OpenDSS tap {tap}, ours {ours['taps'].get(reg)}")
    for cap, states in ref["capacitors"].items():
        if ours["capacitors"].get(cap) != states:
            problems.append(f"capacitor {cap}: OpenDSS {states}, ours {ours['capacitors'].get(cap)}")
    worst, at = 0.0, ""
    missing = [n for n in ref["voltages"] if n not in ours["voltages"]]
    if missing:
        problems.append(f"{len(missing)} nodes missing in ours, e.g. {missing[:3]}")
    for node, (v, base) in ref["voltages"].items():
        if node in ours["voltages"] and base > 0:
            e = abs(ours["voltages"][node][0] - v) / base
            if e > worst:
                worst, at = e, node
    dp = abs(ours["power"][0] - ref["power"][0])
    dq = abs(ours["power"][1] - ref["power"][1])
    print(f"  {name}: converged {ours['converged']} in {ours['iterations']} iterations "
          f"({ref['iterations']} OpenDSS), {ours['control_iterations']} control iterations "
          f"({ref['control_iterations']}); {len(ref['voltages'])} nodes, max |dV| {worst:.2e} pu at {at}; "
          f"source P {ours['power'][0]:.3f} kW (dP {dp:.2e}), Q {ours['power'][1]:.3f} kvar (dQ {dq:.2e})")
    if worst > vtol:
        problems.append(f"max |dV| {worst:.3e} pu at {at} exceeds {vtol:g}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("masters", nargs="*", type=Path)
    parser.add_argument("--vtol", type=float, default=1e-6,
                        help="node-voltage tolerance at 1e-10 solver tolerance, pu (default 1e-6)")
    args = parser.parse_args()
    masters = args.masters or external_feeders()
    if not masters:
        return 0
    try:
        from dss import DSS as dss
    except ImportError:
        print("dss-python is not installed: python3 -m pip install dss-python", file=sys.stderr)
        return 2
    dss.AllowForms = False
    binary = ogg_binary()
    failed = False
    with tempfile.TemporaryDirectory(prefix="ogg-external-") as tmp:
        for master in masters:
            print(f"{master} ({dss.Version.splitlines()[0]}):")
            for tight in (False, True):
                label = "tolerance 1e-10" if tight else "script tolerance"
                ref = opendss_state(dss, master.resolve(), tight)
                ours = our_state(binary, master.resolve(), tight, Path(tmp) / f"{master.stem}{tight}")
                # At the script's tolerance both stop at slightly different iterates.
                problems = compare(label, ref, ours, args.vtol if tight else 1e-3)
                for p in problems:
                    print(f"    MISMATCH: {p}")
                failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
