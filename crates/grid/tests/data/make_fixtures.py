#!/usr/bin/env python3
"""Reference values for tests/features.rs, computed by OpenDSS (dss-python).

Run from this folder: `python3 make_fixtures.py [name ...]` writes <name>.json
for each <name>.dss of CASES (or of the names given). Each script is compiled as written (default tolerance,
controls on), then re-solved at tolerance 1e-10; node voltages, total power,
losses, taps, capacitor states, load powers and every element's Yprim are
recorded."""
import json
from pathlib import Path

import dss

here = Path(__file__).resolve().parent
eng = dss.DSS


def snapshot():
    names = ckt.AllNodeNames
    v = ckt.AllBusVolts
    volts = {n: [v[2 * i], v[2 * i + 1]] for i, n in enumerate(names)}
    bases = {}
    for b in ckt.AllBusNames:
        ckt.SetActiveBus(b)
        bases[b] = ckt.ActiveBus.kVBase
    loads = {}
    ld = ckt.Loads
    i = ld.First
    while i:
        ckt.SetActiveElement("Load." + ld.Name)
        p = ckt.ActiveCktElement.Powers
        loads[ld.Name] = [sum(p[0::2]), sum(p[1::2])]
        i = ld.Next
    caps = {}
    c = ckt.Capacitors
    i = c.First
    while i:
        caps[c.Name] = [int(s) for s in c.States]
        i = c.Next
    taps = {}
    r = ckt.RegControls
    i = r.First
    while i:
        taps[r.Name] = int(r.TapNumber)
        i = r.Next
    tp = ckt.TotalPower
    loss = ckt.Losses
    return {
        "converged": sol.Converged,
        "iterations": sol.Iterations,
        "control_iterations": sol.ControlIterations,
        "total_power": [-tp[0], -tp[1]],
        "losses_kw": loss[0] / 1000,
        "losses_kvar": loss[1] / 1000,
        "voltages": volts,
        "kv_base_ln": bases,
        "loads": loads,
        "capacitors": caps,
        "taps": taps,
    }


# The scripts tests/features.rs checks (timeseries_shapes.dss has its own generator).
CASES = ["features", "controls", "regulators", "line_constants", "feeder_constructs", "cables"]

import sys

for script in [here / f"{name}.dss" for name in (sys.argv[1:] or CASES)]:
    eng.Text.Command = f'compile "{script}"'
    ckt = eng.ActiveCircuit
    sol = ckt.Solution
    default = snapshot()
    yprims = {}
    for name in ckt.AllElementNames:
        ckt.SetActiveElement(name)
        el = ckt.ActiveCktElement
        if name.split(".")[0].lower() in ("regcontrol", "capcontrol") or not el.Enabled:
            continue  # controls have no Yprim; nor has a disabled element (an open tie)
        y = el.Yprim
        n = int(round((len(y) / 2) ** 0.5))
        yprims[name] = {
            "nodes": [f"{b.split('.')[0]}" for b in el.BusNames],
            "G": [[y[2 * (i * n + j)] for j in range(n)] for i in range(n)],
            "B": [[y[2 * (i * n + j) + 1] for j in range(n)] for i in range(n)],
            "node_order": [int(x) for x in el.NodeOrder],
        }
    eng.Text.Command = "set tolerance=1e-10 maxiterations=200"
    sol.Solve()
    tight = snapshot()
    (here / f"{script.stem}.json").write_text(json.dumps({"default": default, "tight": tight, "yprim": yprims}, indent=1))
    print(script.name, "converged", default["converged"], "caps", default["capacitors"], "taps", default["taps"], "P", default["total_power"])
