"""The built-in feeder grid from Python: numbers against OpenDSS, agents reading
its voltages through self.env, actions changing the power flow, errors."""

import csv
import json
from collections import defaultdict

import numpy as np
import pytest

from opengridgym import (
    BaseAgent,
    DoNothingAgent,
    DoNothingMarket,
    Environment,
    FeederGrid,
    ScriptedLoadAgent,
    SimulationError,
)

# OpenDSS (DSS C-API 0.15.7) on the IEEE 13-node feeder, default tolerance:
# power delivered by the source and losses (../shared/reference/ieee13/summary.json).
IEEE13_TOTAL_KW = 3567.2118131482466
IEEE13_LOSSES_KW = 112.40524721566018


def test_ieee13_source_power_and_losses():
    grid = FeederGrid("ieee13")
    assert grid.total_power_kw == pytest.approx(IEEE13_TOTAL_KW, rel=1e-6)
    assert grid.losses_kw == pytest.approx(IEEE13_LOSSES_KW, rel=1e-5)
    assert grid.converged
    v = grid.voltages
    assert isinstance(v, np.ndarray) and v.shape == (len(grid.buses),)
    assert 0.9 < v.min() and v.max() < 1.1


def test_ieee13_bus_voltages_match_opendss(shared):
    ref = defaultdict(list)
    with open(shared / "reference" / "ieee13" / "voltages.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["node"] in ("1", "2", "3"):
                ref[row["bus"].lower()].append(float(row["v_pu"]))
    summary = json.loads((shared / "reference" / "ieee13" / "summary.json").read_text())
    assert summary["total_power_kw"] == pytest.approx(IEEE13_TOTAL_KW)

    grid = FeederGrid("ieee13")
    ours = dict(zip(grid.buses, grid.voltages))
    assert set(ours) == set(ref)
    for bus, values in ref.items():
        # Mean over the bus's phase nodes; OpenDSS's default tolerance leaves ~1e-5 pu.
        assert ours[bus] == pytest.approx(np.mean(values), abs=1e-4), bus


def test_from_file_reads_an_opendss_script(shared):
    script = shared / "feeders" / "ieee13" / "IEEE13Nodeckt.dss"
    grid = FeederGrid.from_file(script, step_s=900)
    assert grid.step_s == 900
    # The official script and our own rewrite of it solve to the same point within tolerance.
    assert grid.total_power_kw == pytest.approx(FeederGrid("ieee13").total_power_kw, rel=1e-6)


class VoltageWatcher(BaseAgent):
    """Scales load 671 and records the voltages it sees through self.env."""

    def __init__(self, multiplier):
        self.multiplier, self.seen = multiplier, []

    def set_market_actions(self):
        self.seen.append(np.array(self.env.grid.voltages))

    def set_grid_actions(self):
        self.grid_actions = [("scale_load", "671", self.multiplier)]


def test_agent_reads_feeder_voltages_and_scales_a_load():
    grid = FeederGrid("ieee13", step_s=900)
    watcher = VoltageWatcher(1.5)
    env = Environment(grid, DoNothingMarket(), [watcher, DoNothingAgent()])
    env.reset(seed=0)
    before = grid.voltages
    env.step()
    # During the first market round the agent saw the initial solution.
    np.testing.assert_array_equal(watcher.seen[0], before)
    # Load 671 (1155 kW, constant power) is 50 % larger: the source delivers
    # that, plus more losses.
    extra = grid.total_power_kw - IEEE13_TOTAL_KW
    assert 0.5 * 1155 < extra < 0.5 * 1155 * 1.2
    assert grid.voltages.min() < before.min()
    env.step()
    # The same load each step: the same solution (warm-started, so within the solver tolerance).
    np.testing.assert_allclose(watcher.seen[1], grid.voltages, atol=1e-4)
    g = env.grid_records
    assert list(g["time_s"]) == [0.0, 900.0] and all(g["converged"])
    assert "tap.reg1" in g  # the feeder's own columns


def test_feeder_with_scripted_agents_is_deterministic():
    def run(seed):
        loads = [name for name, _ in FeederGrid("ieee13").loads][:4]
        agents = [ScriptedLoadAgent(f"a{i}", load, [0.8, 1.0, 1.2], noise=0.1) for i, load in enumerate(loads)]
        env = Environment(FeederGrid("ieee13"), DoNothingMarket(), agents)
        env.reset(seed=seed)
        env.run(3)
        return env.grid_records["total_power_kw"]

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_feeder_errors():
    with pytest.raises(ValueError, match="unknown built-in feeder 'ieee9999'"):
        FeederGrid("ieee9999")
    with pytest.raises(FileNotFoundError):
        FeederGrid.from_file("/no/such/feeder.dss")

    env = Environment(FeederGrid("ieee13"), DoNothingMarket(), [ScriptedLoadAgent("bad", "no_such_load", [1.0])])
    env.reset()
    with pytest.raises(ValueError, match="bad: unknown load 'no_such_load'"):
        env.step()

    env = Environment(FeederGrid("ieee13"), DoNothingMarket(), [VoltageWatcher(50.0)])
    env.reset()
    with pytest.raises(SimulationError, match="no convergence"):
        env.step()
    assert env.grid_step == 0


def test_feeder_snapshot_continues_exactly():
    env = Environment(FeederGrid("ieee34"), DoNothingMarket(), [ScriptedLoadAgent("s", "s860", [0.5, 1.0, 1.5], noise=0.05)])
    env.reset(seed=9)
    env.run(2)
    copy = env.snapshot()
    assert type(copy.grid) is FeederGrid and copy.grid is not env.grid
    env.run(3)
    copy.run(3)
    np.testing.assert_array_equal(env.grid_records["total_power_kw"], copy.grid_records["total_power_kw"])
    np.testing.assert_array_equal(env.grid.voltages, copy.grid.voltages)
