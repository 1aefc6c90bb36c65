#!/usr/bin/env python3
"""Reference for tests/timemode.rs: OpenDSS's time control mode
(`Set ControlMode=time`), computed by OpenDSS (dss-python).

Run from this folder: `python3 make_timemode.py` writes timemode.json with
runs solved one step at a time (`number=1`; time advances before each solve)
at `Set tolerance=1e-9` (the converged answer):

* `ieee34_1h`:   built-in ieee34mod2, `daily=default` on every load, 24 × 1 h.
* `ieee34_15m`:  the same, 96 × 15 min.
* `ieee34_1min`: the same from hour 6, 240 × 1 min (the regulators' 15 s /
  30 s delays and 2 s tap delay span several steps).
* `caps_5min`:   timemode_caps.dss (voltage and kvar CapControls with ON/OFF
  delays and DeadTime), 288 × 5 min.
* `caps_1min`:   timemode_caps.dss from hour 13, 240 × 1 min.
* `reg_1min`, `reg_20s`: timemode_reg.dss (delay 120 s, tapdelay 5 s, a
  one-minute load blip that resets the timer, then a 15-minute block),
  60 × 1 min and 180 × 20 s.

Per step: hour, iterations, control iterations, total power, regulator tap
numbers, capacitor step states, node voltages in pu (in the order of the
run's `nodes`)."""
import json
from pathlib import Path

import dss

here = Path(__file__).resolve().parent
ieee34 = here.parent.parent / "feeders" / "ieee34mod2" / "master.dss"
caps = here / "timemode_caps.dss"
reg = here / "timemode_reg.dss"


def run(script, steps, stepsize, hour, all_daily_default):
    eng = dss.DSS
    eng.AllowForms = False
    text = eng.Text
    text.Command = "clear"
    text.Command = f'compile "{script}"'
    ckt = eng.ActiveCircuit
    if all_daily_default:
        for n in list(ckt.Loads.AllNames):
            text.Command = f"load.{n}.daily=default"
    text.Command = "set tolerance=1e-9"
    text.Command = f"set mode=daily number=1 stepsize={stepsize} hour={hour} controlmode=time"
    out = []
    for _ in range(steps):
        ckt.Solution.Solve()
        tp = ckt.TotalPower
        taps = {}
        r = ckt.RegControls
        i = r.First
        while i:
            taps[r.Name] = int(r.TapNumber)
            i = r.Next
        states = {}
        c = ckt.Capacitors
        i = c.First
        while i:
            states[c.Name] = [int(s) for s in c.States]
            i = c.Next
        out.append({
            "hour": ckt.Solution.dblHour,
            "converged": ckt.Solution.Converged,
            "iterations": ckt.Solution.Iterations,
            "control_iterations": ckt.Solution.ControlIterations,
            "total_power": [-tp[0], -tp[1]],
            "taps": taps,
            "caps": states,
            "v_pu": list(ckt.AllBusVmagPu),
        })
    return {"nodes": list(ckt.AllNodeNames), "steps": out}


def main():
    data = {
        "ieee34_1h": run(ieee34, 24, "1h", 0, True),
        "ieee34_15m": run(ieee34, 96, "15m", 0, True),
        "ieee34_1min": run(ieee34, 240, "1m", 6, True),
        "caps_5min": run(caps, 288, "5m", 0, False),
        "caps_1min": run(caps, 240, "1m", 13, False),
        "reg_1min": run(reg, 60, "1m", 0, False),
        "reg_20s": run(reg, 180, "20s", 0, False),
    }
    out = here / "timemode.json"
    out.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
