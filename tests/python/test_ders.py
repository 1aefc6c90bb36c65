"""Generators, PV systems and storage from Python.

* Live against OpenDSS (dss-python): the IEEE 13 feeder with the DERs of
  crates/grid/tests/data/ders.json's daily script (PV with efficiency and
  P-T curves and a temperature shape, storage following a shape and storage
  on charge/discharge triggers, generators with shapes), `mode=daily`
  24 x 1 h, one Solve per step; our `FeederGrid.from_file(..., shapes="daily")`
  stepped by the Environment. Every step: bus voltages within 1e-5 pu, DER
  powers within 0.1 %, stored energy within 1e-6 relative.
* An agent curtailing PV, setting generator vars and charging/discharging
  storage: the recorder's applied values and clip flags.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from opengridgym import BaseAgent, DoNothingAgent, DoNothingMarket, Environment, FeederGrid

REPO = Path(__file__).resolve().parents[2]
MASTER = REPO / "crates" / "grid" / "feeders" / "ieee13" / "master.dss"
FIXTURE = json.loads((REPO / "crates" / "grid" / "tests" / "data" / "ders.json").read_text())
LOADS = ["670a", "670b", "670c", "671", "611", "652", "692", "675a", "675b", "675c", "634a", "634b", "634c", "645", "646"]


def script(tmp_path: Path) -> Path:
    """The feeder, the DERs, every load on the `default` daily shape, fixed taps, tolerance 1e-9."""
    lines = [f'Redirect "{MASTER}"', FIXTURE["daily_script"], FIXTURE["tight"]]
    lines += [f"Load.{name}.daily=default" for name in LOADS]
    path = tmp_path / "ders_daily.dss"
    path.write_text("\n".join(lines) + "\n")
    return path


def opendss_day(dss, path: Path, steps: int):
    dss.Text.Command = "clear"
    dss.Text.Command = f'compile "{path}"'
    dss.Text.Command = "set mode=daily number=1 stepsize=1h hour=0"
    ckt = dss.ActiveCircuit
    out = []
    for _ in range(steps):
        ckt.Solution.Solve()
        ders, kwh = {}, {}
        for cls in ("Generator", "PVSystem", "Storage"):
            ckt.SetActiveClass(cls)
            for name in list(ckt.ActiveClass.AllNames):
                ckt.SetActiveElement(f"{cls}.{name}")
                p = ckt.ActiveCktElement.Powers
                ders[f"{cls}.{name}".lower()] = (-sum(p[0::2]), -sum(p[1::2]))
                if cls == "Storage":
                    kwh[f"storage.{name}"] = float(ckt.ActiveDSSElement.Properties("kWhStored").Val)
        buses = {}
        for bus in ckt.AllBusNames:
            ckt.SetActiveBus(bus)
            pu = ckt.ActiveBus.puVmagAngle[0::2]
            nodes = list(ckt.ActiveBus.Nodes)
            phase = [v for v, n in zip(pu, nodes) if n in (1, 2, 3)] or list(pu)
            buses[bus.lower()] = float(np.mean(phase))
        out.append({"ders": ders, "kwh": kwh, "buses": buses})
    return out


def test_daily_ders_match_live_opendss(opendss, tmp_path):
    path = script(tmp_path)
    theirs = opendss_day(opendss, path, 24)
    env = Environment(FeederGrid.from_file(path, step_s=3600, shapes="daily"), DoNothingMarket(), [DoNothingAgent()])
    env.reset()
    grid = env.grid
    names = [n for n, _ in grid.ders]
    assert {n.lower() for n in names} == set(theirs[0]["ders"])
    worst_v = worst_p = worst_kwh = 0.0
    for step, ref in enumerate(theirs):
        env.step()
        ours_v = dict(zip(grid.buses, grid.voltages))
        for bus, v in ref["buses"].items():
            worst_v = max(worst_v, abs(ours_v[bus] - v))
            assert ours_v[bus] == pytest.approx(v, abs=1e-5), (step, bus)
        for name in names:
            p, q = grid.der_power(name)
            p_ref, q_ref = ref["ders"][name.lower()]
            scale = max(abs(complex(p_ref, q_ref)), 1.0)
            worst_p = max(worst_p, abs(p - p_ref) / scale, abs(q - q_ref) / scale)
            assert abs(p - p_ref) <= 1e-3 * scale and abs(q - q_ref) <= 1e-3 * scale, (step, name, p, q, p_ref, q_ref)
        for name, kwh_ref in ref["kwh"].items():
            kwh = grid.storage_kwh(name)
            worst_kwh = max(worst_kwh, abs(kwh - kwh_ref) / max(kwh_ref, 1.0))
            assert kwh == pytest.approx(kwh_ref, rel=1e-6), (step, name)
    print(f"worst |dV| {worst_v:.1e} pu, DER power {worst_p:.1e}, kWh {worst_kwh:.1e} (relative)")


class Operator(BaseAgent):
    """Caps the PV at 150 kW, asks the generator for 200 kvar (beyond its
    kVA) and the storage for 260 kW of charge (beyond kWrated) then 180 kW of
    discharge."""

    def set_grid_actions(self):
        kw = -260.0 if self.env.grid_step < 12 else 180.0
        self.grid_actions = [
            ("set_generation", "PVSystem.pv", 150.0),
            ("set_generation", "gen", None, 200.0),
            ("set_storage", "bat", kw),
        ]


def test_agent_set_points_are_clipped_and_reported(tmp_path):
    path = tmp_path / "agent.dss"
    path.write_text(
        f'Redirect "{MASTER}"\n'
        "set tolerance=1e-10 maxiterations=100\n"
        "New Loadshape.solar npts=24 interval=1 mult=[0 0 0 0 0 0.05 0.15 0.3 0.5 0.7 0.85 0.95 1 0.95 0.85 0.7 0.5 0.3 0.15 0.05 0 0 0 0]\n"
        "New PVSystem.pv bus1=675 phases=3 kv=4.16 pmpp=500 kva=500 daily=solar %cutin=0 %cutout=0\n"
        "New Storage.bat bus1=680 phases=3 kv=4.16 kwrated=200 kwhrated=400 %stored=50 dispmode=external\n"
        "New Generator.gen bus1=634 phases=3 kv=0.48 kw=100 pf=0.9\n"
    )
    env = Environment(FeederGrid.from_file(path, step_s=3600, shapes="daily"), DoNothingMarket(), [Operator()])
    env.reset()
    env.run(24)
    g = env.grid_records
    solar = np.array([0, 0, 0, 0, 0, 0.05, 0.15, 0.3, 0.5, 0.7, 0.85, 0.95, 1, 0.95, 0.85, 0.7, 0.5, 0.3, 0.15, 0.05, 0, 0, 0, 0])
    expected_pv = np.minimum(500 * solar, 150.0)
    np.testing.assert_allclose(g["PVSystem.pv.kw"], expected_pv, atol=1e-6)
    np.testing.assert_array_equal(g["PVSystem.pv.clipped"], (500 * solar < 150.0).astype(float))
    np.testing.assert_allclose(g["Generator.gen.kvar"], np.sqrt(120.0**2 - 100.0**2), rtol=1e-9)
    assert all(g["Generator.gen.clipped"] == 1.0)
    kwh = g["Storage.bat.kwh"]
    assert np.all((kwh >= 80.0 - 1e-9) & (kwh <= 400.0 + 1e-9))
    assert kwh.max() == pytest.approx(400.0) and kwh.min() == pytest.approx(80.0)
    bat = g["Storage.bat.kw"]
    assert bat[0] == pytest.approx(-200.0) and g["Storage.bat.clipped"][0] == 1.0  # kWrated
    assert g["Storage.bat.kw_requested"][0] == -260.0
    assert bat[12] == pytest.approx(180.0) and g["Storage.bat.clipped"][12] == 0.0
    assert env.grid.storage_kwh("bat") == pytest.approx(kwh[-1])
    with pytest.raises(ValueError, match="no generator, PV system or storage element 'nope'"):
        env.grid.der_power("nope")


class PowerFactorSetter(BaseAgent):
    def set_grid_actions(self):
        self.grid_actions = [("set_generation_pf", "Generator.gen", None, -0.95), ("set_storage", "bat", 0.0, 20.0)]


def test_power_factor_and_idle_storage_vars(tmp_path):
    path = tmp_path / "pf.dss"
    path.write_text(
        f'Redirect "{MASTER}"\n'
        "set tolerance=1e-10 maxiterations=100\n"
        "New Storage.bat bus1=680 phases=3 kv=4.16 kwrated=200 kwhrated=400 %stored=50 dispmode=external\n"
        "New Generator.gen bus1=634 phases=3 kv=0.48 kw=100 pf=0.9\n"
    )
    env = Environment(FeederGrid.from_file(path, step_s=900), DoNothingMarket(), [PowerFactorSetter()])
    env.reset()
    env.run(2)
    g = env.grid_records
    # pf −0.95 at the generator's own kW: kvar = −100·tan(acos 0.95), within its limits.
    np.testing.assert_allclose(g["Generator.gen.kvar"], -100.0 * np.tan(np.arccos(0.95)), rtol=1e-9)
    assert list(g["Generator.gen.clipped"]) == [0.0, 0.0]
    # Zero kW idles the battery (it draws its 1 % idling losses) while giving the vars asked for.
    np.testing.assert_allclose(g["Storage.bat.kw"], -2.0, rtol=1e-9)
    np.testing.assert_allclose(g["Storage.bat.kvar"], 20.0, rtol=1e-9)
    np.testing.assert_allclose(g["Storage.bat.kwh"], 200.0)


def test_builtin_feeder_with_shapes():
    # ieee34mod2's loads carry daily=default: with shapes the source power follows the shape.
    flat = Environment(FeederGrid("ieee34mod2"), DoNothingMarket(), [DoNothingAgent()])
    shaped = Environment(FeederGrid("ieee34mod2", shapes="daily"), DoNothingMarket(), [DoNothingAgent()])
    for env in (flat, shaped):
        env.reset()
        env.run(24)
    p_flat, p_shaped = flat.grid_records["total_power_kw"], shaped.grid_records["total_power_kw"]
    assert np.ptp(p_flat) < 1e-3 * p_flat.mean()
    assert p_shaped[16] > 1.5 * p_shaped[4]  # the default shape peaks at hour 17, bottoms out at hour 5
    with pytest.raises(ValueError, match="unknown mode 'weekly'"):
        FeederGrid("ieee13", shapes="weekly")
