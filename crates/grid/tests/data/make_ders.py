#!/usr/bin/env python3
"""OpenDSS (dss-python) references for tests/ders.rs: the built-in IEEE 13
feeder with generators, PV systems and storage added.

Run from anywhere: `/work/main/.venv/bin/python make_ders.py` writes
ders.json. Every case compiles crates/grid/feeders/ieee13/master.dss, runs the
case's extra DSS lines (the same text the Rust test appends) and solves at
`tolerance=1e-9` (maxiterations 100) with the regulators at fixed taps
(`TIGHT`, controls off):

* `snapshot`: one solve per case (the master run without its own Solve, so
  the solve starts from OpenDSS's initialisation); node voltages (complex,
  volts), each DER's P/Q into its terminals (kW, kvar; OpenDSS sign),
  iteration count.
* `daily`: `mode=daily` 24 x 1 h and 96 x 15 min, one step per Solve; per step:
  hour, node voltages (pu), DER powers, each storage's kWhStored and state.
* `plain_daily`, `daily_no_storage`: the feeder without DERs, and the daily
  script without its storage, 24 x 1 h (iteration counts).
* `modes_*`: the MODES script (shape fallbacks, loadlevel/price/external
  dispatch, a `useactual` shape) in daily and yearly (24 x 1 h) and duty
  (48 x 15 min) mode.
"""
import json
from pathlib import Path

import dss

here = Path(__file__).resolve().parent
master = (here.parent.parent / "feeders" / "ieee13" / "master.dss").resolve()

# Regulator taps fixed (controls off) so both engines solve the same network
# whatever path their control iterations would take.
TIGHT = """
Transformer.reg1.wdg=2 tap=1.0375
Transformer.reg2.wdg=2 tap=1.025
Transformer.reg3.wdg=2 tap=1.04375
set tolerance=1e-9 maxiterations=100 controlmode=off
"""

CURVES = """
New XYcurve.eff npts=4 xarray=[0.1 0.2 0.4 1.0] yarray=[0.86 0.9 0.93 0.97]
New XYcurve.pt npts=4 xarray=[0 25 75 100] yarray=[1.2 1.0 0.8 0.6]
"""

SNAPSHOT = {
    "gen_model1": """
New Generator.g675 bus1=675 phases=3 kv=4.16 kw=500 pf=0.9 model=1
New Generator.g611 bus1=611.3 phases=1 kv=2.4 kw=100 kvar=50 model=1
New Generator.g671 bus1=671 phases=3 kv=4.16 kw=300 kvar=-100 conn=delta
""",
    "gen_model2": """
New Generator.g634 bus1=634 phases=3 kv=0.48 kw=150 pf=0.95 model=2
New Generator.g652 bus1=652.1 phases=1 kv=2.4 kw=60 kvar=20 model=2
""",
    "gen_model3": """
New Generator.g680 bus1=680 phases=3 kv=4.16 kw=400 kvar=100 model=3 vpu=1.0 maxkvar=800 minkvar=-800
""",
    "gen_model3_at_limit": """
New Generator.g680 bus1=680 phases=3 kv=4.16 kw=400 kvar=50 model=3 vpu=1.06 maxkvar=150 minkvar=-150
""",
    "gen_price_dispatch": """
set pricesignal=40 genmult=0.8
New Generator.fix bus1=634 phases=3 kv=0.48 kw=100 pf=0.9 status=fixed
New Generator.on bus1=675 phases=3 kv=4.16 kw=300 pf=0.95 dispmode=price dispvalue=30
New Generator.off bus1=680 phases=3 kv=4.16 kw=300 pf=0.95 dispmode=price dispvalue=50
""",
    "gen_models_4_5_7": """
New Generator.g4 bus1=675 phases=3 kv=4.16 kw=300 kvar=120 model=4
New Generator.g4d bus1=671 phases=3 kv=4.16 kw=200 kvar=-80 model=4 conn=delta vminpu=1.02
New Generator.g5 bus1=680 phases=3 kv=4.16 kw=250 kvar=100 model=5
New Generator.g5l bus1=652.1 phases=1 kv=2.4 kw=40 kvar=20 model=5 vminpu=1.03
New Generator.g7 bus1=692 phases=3 kv=4.16 kw=300 kvar=50 model=7 vminpu=1.03 balanced=yes
New Generator.g7d bus1=646.2.3 phases=1 kv=4.16 kw=60 kvar=10 model=7 conn=delta vminpu=1.05
New Generator.g7w bus1=634 phases=3 kv=0.48 kw=80 pf=0.9 model=7
""",
    "gen_vmin_band": """
New Generator.g675 bus1=675 phases=3 kv=4.16 kw=500 pf=0.9 vminpu=1.02
New Generator.g646 bus1=646.2.3 phases=1 kv=4.16 kw=80 kvar=10 conn=delta vmaxpu=0.98
""",
    "gen_off_loadlevel": """
New Generator.g675 bus1=675 phases=3 kv=4.16 kw=500 pf=0.9 dispmode=loadlevel dispvalue=1.5
New Generator.g680 bus1=680 phases=3 kv=4.16 kw=200 pf=0.9 enabled=false
""",
    "pv_curves": CURVES + """
New PVSystem.pv675 bus1=675 phases=3 kv=4.16 pmpp=500 kva=450 irradiance=0.9 temperature=40 pf=0.95 effcurve=eff p-tcurve=pt
New PVSystem.pv611 bus1=611.3 phases=1 kv=2.4 pmpp=100 kva=110 irradiance=0.6 %pmpp=50 effcurve=eff
New PVSystem.pv680 bus1=680 phases=3 kv=4.16 pmpp=300 kva=300 irradiance=1 kvar=150 kvarmax=100
New PVSystem.pv692 bus1=692 phases=3 kv=4.16 pmpp=200 kva=250 irradiance=0.15 %cutin=20 %cutout=20
New PVSystem.pv646 bus1=646.2.3 phases=1 kv=4.16 conn=delta pmpp=80 kva=85 irradiance=1 pf=-0.9 wattpriority=yes
""",
    "pv_inverter_limits": """
New PVSystem.pfp bus1=675 phases=3 kv=4.16 pmpp=400 kva=400 irradiance=1 pf=0.8 pfpriority=yes
New PVSystem.neg bus1=680 phases=3 kv=4.16 pmpp=300 kva=350 irradiance=0.9 kvar=-300 kvarmaxabs=200
New PVSystem.vfi bus1=692 phases=3 kv=4.16 pmpp=100 kva=100 irradiance=0.1 kvar=50 varfollowinverter=yes
New PVSystem.nvfi bus1=634 phases=3 kv=0.48 pmpp=100 kva=100 irradiance=0.1 kvar=40
New PVSystem.z bus1=611.3 phases=1 kv=2.4 pmpp=60 kva=60 irradiance=0.8 pf=0.9 model=2
""",
    "pmin_ramps": CURVES + """
New PVSystem.nov bus1=675 phases=3 kv=4.16 pmpp=400 kva=400 irradiance=0.2 pf=0.9 %pminnovars=25
New PVSystem.rampf bus1=680 phases=3 kv=4.16 pmpp=300 kva=300 irradiance=0.3 pf=0.8 %pminkvarmax=60 kvarmax=150 %cutin=5 %cutout=5
New PVSystem.rampq bus1=692 phases=3 kv=4.16 pmpp=200 kva=200 irradiance=0.25 kvar=-120 %pminkvarmax=50 %pminnovars=10 effcurve=eff %cutin=5 %cutout=5
New Storage.rs bus1=634 phases=3 kv=0.48 kwrated=100 kwhrated=200 state=discharging %discharge=30 kvar=80 %pminkvarmax=60
New Storage.rn bus1=645.2 phases=1 kv=2.4 kwrated=40 kwhrated=80 state=charging %charge=20 pf=0.9 %pminnovars=30
""",
    "current_limit_and_balanced": """
New PVSystem.lim bus1=675 phases=3 kv=4.16 pmpp=400 kva=400 irradiance=1 vminpu=1.03 limitcurrent=yes
New PVSystem.limd bus1=684.1.3 phases=1 kv=4.16 conn=delta pmpp=60 kva=60 vminpu=1.05 limitcurrent=yes
New PVSystem.bal bus1=671 phases=3 kv=4.16 pmpp=300 kva=300 irradiance=1 pf=0.95 balanced=yes
New Storage.lim bus1=680 phases=3 kv=4.16 kwrated=200 kwhrated=400 %stored=50 state=discharging vminpu=1.03 limitcurrent=yes
New Storage.bal bus1=692 phases=3 kv=4.16 kwrated=150 kwhrated=400 %stored=50 state=discharging balanced=yes kvar=40
New Storage.limd bus1=646.2.3 phases=1 kv=4.16 conn=delta kwrated=50 kwhrated=100 %stored=50 state=discharging vminpu=1.05 limitcurrent=yes
""",
    "storage_effcurve": CURVES + """
New Storage.ed bus1=675 phases=3 kv=4.16 kwrated=300 kva=300 kwhrated=600 %stored=60 state=discharging %discharge=50 effcurve=eff
New Storage.ec bus1=680 phases=3 kv=4.16 kwrated=200 kva=250 kwhrated=500 %stored=30 state=charging %charge=40 effcurve=eff
New Storage.ei bus1=611.3 phases=1 kv=2.4 kwrated=50 kwhrated=100 %stored=50 state=idling effcurve=eff %idlingkw=3
New Storage.ecut bus1=692 phases=3 kv=4.16 kwrated=100 kwhrated=200 %stored=50 state=discharging %discharge=15 %cutin=20 %cutout=20 effcurve=eff
""",
    "storage_limits": """
New Storage.kva bus1=675 phases=3 kv=4.16 kwrated=250 kva=250 kwhrated=500 state=discharging pf=0.8
New Storage.pct bus1=680 phases=3 kv=4.16 kwrated=200 %kwrated=50 kwhrated=500 state=discharging %discharge=100
New Storage.empty bus1=692 phases=3 kv=4.16 kwrated=100 kwhrated=200 %stored=20 %reserve=20 state=discharging
New Storage.full bus1=634 phases=3 kv=0.48 kwrated=50 kwhrated=100 state=charging
New Storage.qlim bus1=645.2 phases=1 kv=2.4 kwrated=40 kwhrated=80 %stored=50 state=charging kvar=50 kvarmax=30
New Storage.z bus1=652.1 phases=1 kv=2.4 kwrated=30 kwhrated=60 %stored=50 state=discharging model=2
""",
    "gen_model3_single_phase": """
New Generator.g652 bus1=652.1 phases=1 kv=2.4 kw=80 kvar=10 model=3 vpu=1.0 maxkvar=100 minkvar=-100
""",
    "gen_delta_and_two_phase": """
New Generator.gd3 bus1=671 phases=3 kv=4.16 kw=250 kvar=0 conn=delta model=3 vpu=1.0 maxkvar=300 minkvar=-300
New Generator.g2 bus1=684.1.3 phases=2 kv=4.16 kw=60 pf=0.9
New PVSystem.p2 bus1=645.2.3 phases=2 kv=4.16 pmpp=50 kva=50 conn=delta pf=0.95
New Storage.s2 bus1=632.1.2 phases=2 kv=4.16 kwrated=80 kwhrated=160 state=discharging conn=delta
""",
    "storage": """
New Storage.bd bus1=675 phases=3 kv=4.16 kwrated=300 kwhrated=1000 %stored=60 state=discharging %discharge=80 pf=0.95
New Storage.bc bus1=680 phases=3 kv=4.16 kwrated=200 kva=220 kwhrated=800 %stored=30 state=charging %charge=50
New Storage.bi bus1=611.3 phases=1 kv=2.4 kwrated=50 kwhrated=100 state=idling %idlingkw=2
New Storage.bk bus1=652.1 phases=1 kv=2.4 kwrated=60 kwhrated=100 kw=40 kvar=30
""",
}

DAILY = CURVES + """
New Loadshape.solar npts=24 interval=1 mult=[0 0 0 0 0 0.05 0.15 0.3 0.5 0.7 0.85 0.95 1 0.95 0.85 0.7 0.5 0.3 0.15 0.05 0 0 0 0]
New Loadshape.battery npts=24 interval=1 mult=[-0.5 -0.5 -0.6 -0.6 -0.4 0 0 0 0 0 -0.3 -0.8 -0.8 -0.3 0 0 0.4 0.8 1 1 0.9 0.5 0 0]
New Loadshape.genshape npts=24 interval=1 mult=[0.2 0.2 0.2 0.2 0.3 0.5 0.7 0.9 1 1 1 1 1 1 1 1 1 1 0.9 0.8 0.6 0.4 0.3 0.2] qmult=[0.1 0.1 0.1 0.1 0.1 0.2 0.3 0.4 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.5 0.4 0.3 0.2 0.2 0.1 0.1]
New TShape.temps npts=24 interval=1 temp=[10 9 8 8 8 9 12 16 20 25 30 34 37 39 40 39 36 32 27 22 18 15 13 11]
New PVSystem.pv675 bus1=675 phases=3 kv=4.16 pmpp=600 kva=550 irradiance=1 pf=0.98 daily=solar tdaily=temps effcurve=eff p-tcurve=pt
New PVSystem.pv611 bus1=611.3 phases=1 kv=2.4 pmpp=100 kva=100 irradiance=0.9 daily=solar
New Storage.follow bus1=680 phases=3 kv=4.16 kwrated=250 kwhrated=1000 %stored=50 %reserve=20 dispmode=follow daily=battery
New Storage.trig bus1=671 phases=3 kv=4.16 kwrated=200 kwhrated=500 %stored=40 dispmode=default daily=default chargetrigger=0.65 dischargetrigger=0.95 %charge=60 %discharge=90 timechargetrig=0
New Storage.eff bus1=634 phases=3 kv=0.48 kwrated=80 kva=90 kwhrated=200 %stored=50 dispmode=follow daily=battery effcurve=eff %idlingkw=2
New Storage.small bus1=652.1 phases=1 kv=2.4 kwrated=40 kwhrated=60 %stored=25 dispmode=follow daily=battery %effcharge=95 %effdischarge=92 %idlingkw=1.5
New Generator.gd bus1=634 phases=3 kv=0.48 kw=120 kvar=40 daily=genshape
New Generator.gfix bus1=645.2 phases=1 kv=2.4 kw=30 pf=0.9 daily=genshape status=fixed
"""

# Shape fallbacks per mode and the other dispatch modes.
MODES = """
set genmult=0.9
New Loadshape.solar npts=24 interval=1 mult=[0 0 0 0 0 0.05 0.15 0.3 0.5 0.7 0.85 0.95 1 0.95 0.85 0.7 0.5 0.3 0.15 0.05 0 0 0 0]
New Loadshape.clouds npts=8 interval=0.25 mult=[0.2 0.9 0.4 1.0 0.1 0.6 0.8 0.3]
New Loadshape.year npts=24 interval=1 mult=[0.5 0.6 0.7 0.8 0.9 1 1 1 0.9 0.8 0.7 0.6 0.5 0.4 0.3 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1]
New Loadshape.actual npts=4 interval=6 mult=[40 80 120 60] qmult=[10 20 30 15] useactual=yes
New TShape.cold npts=2 interval=12 temp=[0 5]
New PVSystem.pvd bus1=675 phases=3 kv=4.16 pmpp=400 kva=400 daily=solar
New PVSystem.pvduty bus1=611.3 phases=1 kv=2.4 pmpp=80 kva=80 daily=solar duty=clouds tdaily=cold %cutin=5 %cutout=5
New Generator.gyd bus1=634 phases=3 kv=0.48 kw=100 pf=0.95 daily=solar yearly=year
New Generator.gdonly bus1=652.1 phases=1 kv=2.4 kw=40 kvar=10 daily=year
New Generator.glevel bus1=680 phases=3 kv=4.16 kw=200 pf=0.9 daily=year dispmode=loadlevel dispvalue=0.9
New Generator.gact bus1=692 phases=3 kv=4.16 daily=actual
New Generator.gds bus1=633 phases=3 kv=4.16 kw=80 pf=0.95 daily=solar duty=clouds dutystart=0.5
New PVSystem.pvds bus1=680 phases=3 kv=4.16 pmpp=150 kva=150 daily=clouds duty=clouds yearly=year dutystart=1.25 %cutin=0 %cutout=0
New Storage.tod bus1=633 phases=3 kv=4.16 kwrated=100 kwhrated=300 %stored=40 chargetrigger=0.5 %charge=80 pf=0.9
New Generator.gpv bus1=675 phases=3 kv=4.16 kw=300 kvar=0 model=3 vpu=1.01 maxkvar=250 minkvar=-250 daily=year
New Storage.level bus1=671 phases=3 kv=4.16 kwrated=150 kwhrated=400 %stored=50 dispmode=loadlevel chargetrigger=0.7 dischargetrigger=0.95 timechargetrig=0
New Storage.price bus1=645.2 phases=1 kv=2.4 kwrated=30 kwhrated=60 %stored=50 dispmode=price chargetrigger=30 timechargetrig=0
New Storage.ext bus1=646.2.3 phases=1 kv=4.16 conn=delta kwrated=40 kwhrated=50 %stored=70 %reserve=30 dispmode=external state=discharging %discharge=90 pf=-0.95
"""


def powers(ckt, cls):
    out = {}
    ckt.SetActiveClass(cls)
    names = list(ckt.ActiveClass.AllNames)
    for n in names:
        ckt.SetActiveElement(f"{cls}.{n}")
        el = ckt.ActiveCktElement
        if not el.Enabled:
            continue
        p = el.Powers
        out[f"{cls}.{n}"] = [sum(p[0::2]), sum(p[1::2])]
    return out


def storage_state(ckt):
    out = {}
    ckt.SetActiveClass("Storage")
    for n in list(ckt.ActiveClass.AllNames):
        ckt.SetActiveElement(f"Storage.{n}")
        el = ckt.ActiveDSSElement
        out[n] = {"kwh": float(el.Properties("kWhStored").Val), "state": el.Properties("State").Val.lower()}
    return out


def compile_case(extra, master_solves=True):
    eng = dss.DSS
    eng.AllowForms = False
    text = eng.Text
    text.Command = "clear"
    if master_solves:
        text.Command = f'compile "{master}"'
    else:
        # The master without its own Solve, so the case's solve starts from
        # OpenDSS's initialisation as ours does (iteration counts comparable).
        text.Command = f'cd "{master.parent}"'
        for line in master.read_text().splitlines():
            if line.strip().lower() != "solve":
                text.Command = line
    for line in (extra + TIGHT).strip().splitlines():
        text.Command = line
    return eng.ActiveCircuit


def der_powers(ckt):
    d = {}
    for cls in ("Generator", "PVSystem", "Storage"):
        d.update(powers(ckt, cls))
    return d


def snapshot(extra):
    ckt = compile_case(extra, master_solves=False)
    ckt.Solution.Solve()
    v = ckt.AllBusVolts
    names = ckt.AllNodeNames
    return {
        "script": extra,
        "converged": ckt.Solution.Converged,
        "iterations": ckt.Solution.Iterations,
        "v": {n: [v[2 * i], v[2 * i + 1]] for i, n in enumerate(names)},
        "ders": der_powers(ckt),
    }


def daily(stepsize, steps, script=DAILY, mode="daily"):
    ckt = compile_case(script, master_solves=False)
    dss.DSS.Text.Command = "batchedit load..* daily=default"
    dss.DSS.Text.Command = f"set mode={mode} number=1 stepsize={stepsize} hour=0"
    # `mode=duty` switches OpenDSS to time-driven controls; keep the taps fixed.
    dss.DSS.Text.Command = "set controlmode=off"
    out = []
    for _ in range(steps):
        ckt.Solution.Solve()
        out.append({
            "hour": ckt.Solution.dblHour,
            "converged": ckt.Solution.Converged,
            "iterations": ckt.Solution.Iterations,
            "v_pu": dict(zip(ckt.AllNodeNames, ckt.AllBusVmagPu)),
            "ders": der_powers(ckt),
            # kWhStored after the step's end-of-step update
            "storage": storage_state(ckt),
        })
    return out


def main():
    data = {
        "snapshot": {name: snapshot(extra) for name, extra in SNAPSHOT.items()},
        "tight": TIGHT,
        "daily_script": DAILY,
        "daily_1h": daily("1h", 24),
        "daily_15m": daily("15m", 96),
        # The daily script without its storage elements, for iteration counts.
        "daily_no_storage_script": "\n".join(l for l in DAILY.splitlines() if not l.startswith("New Storage")),
        "daily_no_storage": daily("1h", 24, "\n".join(l for l in DAILY.splitlines() if not l.startswith("New Storage")), "daily"),
        # The feeder alone (no DERs), for the time-series iteration counts.
        "plain_daily": daily("1h", 24, "", "daily"),
        "modes_script": MODES,
        "modes_daily": daily("1h", 24, MODES, "daily"),
        "modes_yearly": daily("1h", 24, MODES, "yearly"),
        "modes_duty": daily("15m", 48, MODES, "duty"),
    }
    out = here / "ders.json"
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
