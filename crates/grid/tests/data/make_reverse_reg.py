#!/usr/bin/env python3
"""Reference for tests/reverse_reg.rs: RegControl reverse-power operation
(`reversible`, `cogen`, `revneutral`) and `Set ControlMode=event`, computed
by OpenDSS (dss-python 0.15.7 / DSS C-API 0.14.5).

Run from this folder: `python3 make_reverse_reg.py` writes reverse_reg.json.
Feeder: reverse_reg.dss (IEEE 13 with a 5 MW PV plant at 675 that reverses
the power through the regulators around noon; every load on `loadday`).
Each run applies its `edits` after compiling, then solves daily one step at
a time (`number=1`) at `Set tolerance=1e-9`. Per step: hour (dblHour), the
solution clock after the solve (intHour, seconds), iterations, control
iterations, regulator tap numbers, capacitor states, node voltages in pu (in
the order of the run's `nodes`). `event_snapshots`: single snapshot solves of
timemode_reg.dss in event and static mode (taps, clock, iterations, voltages)."""
import json
from pathlib import Path

import dss

here = Path(__file__).resolve().parent
feeder = here / "reverse_reg.dss"

REGS = ["reg1", "reg2", "reg3"]


def regs(props):
    return [f"regcontrol.{r}.{p}" for r in REGS for p in props]


# revR/revX differ from R/X so that reverse LDC is visible.
REVERSIBLE = regs(["reversible=yes", "revvreg=121", "revband=2", "revr=1", "revx=2", "revthreshold=100", "revdelay=60"])
COGEN = regs(["cogen=yes", "revvreg=124", "revband=2", "revr=1", "revx=2", "revthreshold=100", "revdelay=60"])
NEUTRAL = regs(["reversible=yes", "revneutral=yes", "revthreshold=100", "revdelay=60"])
# A voltage CapControl on the 600 kvar bank, PT at 675 (delays in seconds).
CAPCONTROL = [
    "new capcontrol.c675 capacitor=cap1 element=line.692675 terminal=2 type=voltage ptratio=20 on=119 off=124 delay=45 delayoff=90",
]

# The taps the master's own `Solve` (snapshot, static) leaves, stated so
# that OpenGridGym (which does not solve while reading) starts from them too.
START_TAPS = ["regcontrol.reg1.tapnum=9", "regcontrol.reg2.tapnum=6", "regcontrol.reg3.tapnum=9"]

# Minute-by-minute PV: a one-minute burst at minute 10 (reverse power for
# less than revdelay: the pending reversal is withdrawn), sustained reverse
# power from minute 20 (reverses after revdelay), a small reverse flow inside
# the ±threshold band from minute 40 (stays reversed: hysteresis), no PV
# from minute 50 (switches back).
PV_BLIP = [0.0] * 10 + [1.0] + [0.0] * 9 + [0.6] * 20 + [0.36] * 10 + [0.0] * 10
HYSTERESIS = [
    "new loadshape.pvblip npts=60 minterval=1 mult=[" + " ".join(f"{m:g}" for m in PV_BLIP) + "]",
    "generator.pv.daily=pvblip",
] + regs(["reversible=yes", "revvreg=121", "revband=2", "revthreshold=100", "revdelay=120", "tapdelay=5"])

RUNS = {
    # key: (edits, controlmode, steps, stepsize, start hour)
    "reversible_static_1h": (REVERSIBLE, "static", 24, "1h", 0),
    "reversible_time_15m": (REVERSIBLE, "time", 96, "15m", 0),
    "cogen_static_1h": (COGEN, "static", 24, "1h", 0),
    "cogen_time_15m": (COGEN, "time", 96, "15m", 0),
    "revneutral_static_1h": (NEUTRAL, "static", 24, "1h", 0),
    "revneutral_time_15m": (NEUTRAL, "time", 96, "15m", 0),
    "event_1h": (CAPCONTROL, "event", 24, "1h", 0),
    "event_15m": (CAPCONTROL, "event", 96, "15m", 0),
    "hysteresis_time_1min": (HYSTERESIS, "time", 60, "1m", 0),
    "hysteresis_event_1min": (HYSTERESIS, "event", 60, "1m", 0),
}


def run(edits, controlmode, steps, stepsize, hour):
    eng = dss.DSS
    eng.AllowForms = False
    text = eng.Text
    text.Command = "clear"
    text.Command = f'compile "{feeder}"'
    ckt = eng.ActiveCircuit
    for n in list(ckt.Loads.AllNames):
        text.Command = f"load.{n}.daily=loadday"
    for e in START_TAPS + edits:
        text.Command = e
    text.Command = "set tolerance=1e-9 maxcontroliter=100"
    text.Command = f"set mode=daily number=1 stepsize={stepsize} hour={hour} controlmode={controlmode}"
    out = []
    for _ in range(steps):
        ckt.Solution.Solve()
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
        tp = ckt.TotalPower
        out.append({
            "hour": ckt.Solution.dblHour,
            "clock": [ckt.Solution.Hour, ckt.Solution.Seconds],
            "converged": ckt.Solution.Converged,
            "iterations": ckt.Solution.Iterations,
            "control_iterations": ckt.Solution.ControlIterations,
            "total_power": [-tp[0], -tp[1]],
            "taps": taps,
            "caps": states,
            "v_pu": list(ckt.AllBusVmagPu),
        })
    return {"edits": START_TAPS + edits, "controlmode": controlmode, "nodes": list(ckt.AllNodeNames), "steps": out}


def snapshot(load_kw, controlmode):
    """One snapshot solve of timemode_reg.dss (delay 120 s, tapdelay 5 s) with
    the load at `load_kw`: in event mode the clock ends at the last tap's time."""
    eng = dss.DSS
    text = eng.Text
    text.Command = "clear"
    text.Command = f'compile "{here / "timemode_reg.dss"}"'
    text.Command = f"load.far.kw={load_kw}"
    text.Command = f"set controlmode={controlmode} tolerance=1e-9 maxcontroliter=100"
    ckt = eng.ActiveCircuit
    ckt.Solution.Solve()
    return {
        "load_kw": load_kw,
        "controlmode": controlmode,
        "tap": int(ckt.RegControls.TapNumber),
        "clock": [ckt.Solution.Hour, ckt.Solution.Seconds],
        "control_iterations": ckt.Solution.ControlIterations,
        "iterations": ckt.Solution.Iterations,
        "nodes": list(ckt.AllNodeNames),
        "v_pu": list(ckt.AllBusVmagPu),
    }


def main():
    data = {key: run(*spec) for key, spec in RUNS.items()}
    # (At 9000 kW the tap reaches its maximum and OpenDSS's event mode keeps
    # queueing moves it cannot make until MaxControlIter: not compared.)
    data["event_snapshots"] = [snapshot(kw, mode) for kw in (6000, 7000) for mode in ("event", "static")]
    out = here / "reverse_reg.json"
    out.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
