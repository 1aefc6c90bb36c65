"""Our power-flow engine against the real OpenDSS, live, on every built-in feeder.

For each feeder in crates/grid/feeders:
* OpenDSS (dss-python) compiles our master.dss, solves as the reference cases do (default
  tolerance, controls on), then freezes the controls and re-solves to 1e-10 -- the `_tight`
  state of ../shared/reference;
* our engine runs through the CLI: `ogg powerflow <feeder> --tolerance 1e-10 --out DIR`.
Both must give the same regulator taps, node voltages within 1e-6 pu (line-to-line
magnitudes for the 3-wire delta ieee37, whose node-to-ground voltages are not meaningful)
and total source power within 0.01 kW.

Skips when dss-python or the `ogg` binary is missing (see conftest.py).
"""
from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

FEEDER_DIR = Path(__file__).resolve().parents[2] / "crates" / "grid" / "feeders"

V_TOL_PU = 1e-6
P_TOL_KW = 0.01
CLI_TIMEOUT_S = 300


@dataclass(frozen=True)
class Feeder:
    name: str
    # ieee13 and ieee37 masters solve themselves; the 34-node masters stop at
    # CalcVoltageBases, like the published scripts, and the reference cases add Solve.
    master_solves: bool
    # Compare line-to-line magnitudes instead of node-to-ground phasors (3-wire delta).
    line_to_line: bool = False


FEEDERS = [
    Feeder("ieee13", master_solves=True),
    Feeder("ieee34", master_solves=False),
    Feeder("ieee34mod2", master_solves=False),
    Feeder("ieee34_opengridgym", master_solves=False),
    Feeder("ieee37", master_solves=True, line_to_line=True),
]


@dataclass
class Solution:
    voltages: dict[str, complex]  # "bus.node" (lower case) -> V
    base_ln_v: dict[str, float]  # "bus.node" -> line-to-neutral base voltage, V
    total_power_kw: float
    taps: dict[str, int]
    converged: bool


def solve_with_opendss(dss, feeder: Feeder) -> Solution:
    master = FEEDER_DIR / feeder.name / "master.dss"
    dss.Text.Command = "clear"
    dss.Text.Command = f'compile "{master}"'
    if not feeder.master_solves:
        dss.Text.Command = "solve"
    # Same control state, fully converged (reference/README.md, `_tight`).
    dss.Text.Command = "set controlmode=off tolerance=1e-10 maxiterations=200"
    dss.Text.Command = "solve"
    circuit = dss.ActiveCircuit
    names = [n.lower() for n in circuit.AllNodeNames]
    raw = circuit.AllBusVolts
    voltages = {n: complex(raw[2 * i], raw[2 * i + 1]) for i, n in enumerate(names)}
    base_ln_v = {}
    for bus_name in circuit.AllBusNames:
        circuit.SetActiveBus(bus_name)
        for node in circuit.ActiveBus.Nodes:
            base_ln_v[f"{bus_name.lower()}.{node}"] = circuit.ActiveBus.kVBase * 1000.0
    taps = {}
    regs = circuit.RegControls
    more = regs.First
    while more:
        taps[regs.Name.lower()] = regs.TapNumber
        more = regs.Next
    return Solution(
        voltages=voltages,
        base_ln_v=base_ln_v,
        total_power_kw=-circuit.TotalPower[0],
        taps=taps,
        converged=bool(circuit.Solution.Converged),
    )


@pytest.fixture(scope="module")
def ogg_powerflow(ogg_bin: Path) -> Path:
    """The `ogg` binary, provided it has the `powerflow` command (it is being built)."""
    try:
        probe = subprocess.run([str(ogg_bin), "powerflow", "--help"], capture_output=True, text=True, timeout=60)
    except OSError as error:
        pytest.skip(f"cannot run {ogg_bin}: {error}")
    if probe.returncode != 0:
        pytest.skip(f"{ogg_bin} has no `powerflow` command yet (`ogg powerflow --help` failed)")
    return ogg_bin


def solve_with_ogg(ogg_bin: Path, feeder: Feeder, out_dir: Path) -> Solution:
    command = [str(ogg_bin), "powerflow", feeder.name, "--tolerance", "1e-10", "--out", str(out_dir)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    ran = f"`{' '.join(command)}`\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, f"exit status {result.returncode} from {ran}"
    for written in ("summary.json", "voltages.csv"):
        assert (out_dir / written).is_file(), f"no {written} in {out_dir} after {ran}"
    summary = json.loads((out_dir / "summary.json").read_text())
    voltages = {}
    with (out_dir / "voltages.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            node = f"{row['bus'].lower()}.{int(row['node'])}"
            voltages[node] = complex(float(row["v_re"]), float(row["v_im"]))
    return Solution(
        voltages=voltages,
        base_ln_v={},
        total_power_kw=float(summary["total_power_kw"]),
        taps={name.lower(): int(step) for name, step in summary.get("taps", {}).items()},
        converged=bool(summary["converged"]),
    )


def line_to_line(voltages: dict[str, complex]) -> dict[str, complex]:
    """V12, V23, V31 for every bus with at least two of the phase nodes 1..3."""
    by_bus: dict[str, dict[int, complex]] = {}
    for name, v in voltages.items():
        bus, _, node = name.rpartition(".")
        by_bus.setdefault(bus, {})[int(node)] = v
    out = {}
    for bus, nodes in by_bus.items():
        for a, b in ((1, 2), (2, 3), (3, 1)):
            if a in nodes and b in nodes:
                out[f"{bus}.{a}-{b}"] = nodes[a] - nodes[b]
    return out


def worst(deviations: dict[str, float]) -> tuple[float, str]:
    if not deviations:
        return 0.0, ""
    name = max(deviations, key=deviations.get)
    return deviations[name], name


@pytest.mark.parametrize("feeder", FEEDERS, ids=[f.name for f in FEEDERS])
def test_engine_matches_opendss(feeder: Feeder, opendss, ogg_powerflow: Path, tmp_path: Path):
    reference = solve_with_opendss(opendss, feeder)
    assert reference.converged, f"OpenDSS did not converge on {feeder.name}"
    ours = solve_with_ogg(ogg_powerflow, feeder, tmp_path)
    assert ours.converged, f"ogg did not converge on {feeder.name}"

    assert ours.taps == reference.taps, f"{feeder.name}: taps differ (ours {ours.taps}, OpenDSS {reference.taps})"

    missing = sorted(set(reference.voltages) - set(ours.voltages))
    extra = sorted(set(ours.voltages) - set(reference.voltages))
    assert not missing and not extra, f"{feeder.name}: node sets differ; missing {missing[:10]}, extra {extra[:10]}"

    if feeder.line_to_line:
        ref_ll, our_ll = line_to_line(reference.voltages), line_to_line(ours.voltages)
        deviations = {
            pair: abs(abs(our_ll[pair]) - abs(v)) / (math.sqrt(3.0) * reference.base_ln_v[pair.split("-")[0]])
            for pair, v in ref_ll.items()
        }
        what = "line-to-line |V|"
    else:
        deviations = {
            node: abs(ours.voltages[node] - v) / reference.base_ln_v[node]
            for node, v in reference.voltages.items()
        }
        what = "node voltage phasor"
    dv, where = worst(deviations)
    assert dv <= V_TOL_PU, f"{feeder.name}: {what} differs by {dv:.3e} pu at {where} (allowed {V_TOL_PU:g})"

    dp = abs(ours.total_power_kw - reference.total_power_kw)
    assert dp <= P_TOL_KW, (
        f"{feeder.name}: total power {ours.total_power_kw:.4f} kW vs OpenDSS "
        f"{reference.total_power_kw:.4f} kW (difference {dp:.4f} kW, allowed {P_TOL_KW})"
    )


def test_feeder_files_match_published_scripts(opendss):
    """Our feeder files are the published circuits (bench/check_feeders_vs_opendss.py).

    Without ../shared the script only checks that ours compile and converge in OpenDSS.
    """
    script = Path(__file__).resolve().parents[2] / "bench" / "check_feeders_vs_opendss.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout}\n{result.stderr}"
