#!/usr/bin/env python3
"""Reference for tests/timeseries.rs, computed by OpenDSS (dss-python).

Run from this folder: `python3 make_timeseries.py` writes
timeseries_ieee34mod2.json: the built-in ieee34mod2 feeder with `daily=default`
on every load (its script already attaches it; the edit makes it explicit), `Set mode=daily stepsize=1h hour=0`, solved one step at a time
(`number=1`, 24 solves; time advances before each solve) at the script's
tolerance with static controls (`steps`), and again with `Set tolerance=1e-9`
(`steps_tight`: the converged answer, free of iteration-path differences). Per step: hour, iteration and control-iteration
counts, total power (kW, kvar), losses, node voltages in pu, regulator tap numbers."""
import json
from pathlib import Path

import dss

here = Path(__file__).resolve().parent
feeder = here.parent.parent / "feeders" / "ieee34mod2" / "master.dss"


def run(tolerance):
    eng = dss.DSS
    eng.AllowForms = False
    text = eng.Text
    text.Command = "clear"
    text.Command = f'compile "{feeder}"'
    ckt = eng.ActiveCircuit
    names = list(ckt.Loads.AllNames)
    for n in names:
        text.Command = f"load.{n}.daily=default"
    if tolerance is not None:
        text.Command = f"set tolerance={tolerance}"
    text.Command = "set mode=daily number=1 stepsize=1h hour=0"
    steps = []
    for _ in range(24):
        ckt.Solution.Solve()
        tp = ckt.TotalPower
        loss = ckt.Losses
        taps = {}
        r = ckt.RegControls
        i = r.First
        while i:
            taps[r.Name] = int(r.TapNumber)
            i = r.Next
        vpu = ckt.AllBusVmagPu
        steps.append({
            "hour": ckt.Solution.dblHour,
            "converged": ckt.Solution.Converged,
            "iterations": ckt.Solution.Iterations,
            "control_iterations": ckt.Solution.ControlIterations,
            "total_power": [-tp[0], -tp[1]],
            "losses_kw": loss[0] / 1000,
            "taps": taps,
            "v_pu": dict(zip(ckt.AllNodeNames, vpu)),
        })
    return steps


def main():
    data = {"feeder": "ieee34mod2", "shape": "default", "steps": run(None), "steps_tight": run(1e-9)}
    out = here / "timeseries_ieee34mod2.json"
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {out}")


def shapes_run():
    """timeseries_shapes.dss at tolerance 1e-9, 30 × 25 min (hours that fall
    between points, exactly on them and at rounding ties; wrap-around past
    the last point): per step hour, total power and each load's power."""
    eng = dss.DSS
    text = eng.Text
    text.Command = "clear"
    text.Command = f'compile "{here / "timeseries_shapes.dss"}"'
    ckt = eng.ActiveCircuit
    text.Command = "set tolerance=1e-9 mode=daily number=1 stepsize=1500s hour=0"
    steps = []
    for _ in range(30):
        ckt.Solution.Solve()
        loads = {}
        ld = ckt.Loads
        i = ld.First
        while i:
            ckt.SetActiveElement("Load." + ld.Name)
            p = ckt.ActiveCktElement.Powers
            loads[ld.Name] = [sum(p[0::2]), sum(p[1::2])]
            i = ld.Next
        tp = ckt.TotalPower
        steps.append({"hour": ckt.Solution.dblHour, "total_power": [-tp[0], -tp[1]], "loads": loads})
    out = here / "timeseries_shapes.json"
    out.write_text(json.dumps({"steps": steps}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    shapes_run()
    main()
