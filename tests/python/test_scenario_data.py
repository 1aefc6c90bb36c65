"""Scenarios driven by data files ([[timeseries]]) and monitors, from Python."""

import csv

import numpy as np
import pytest

import opengridgym as og
from opengridgym import DoNothingAgent, DoNothingMarket, Environment, FeederGrid


def test_data_scenario_is_built_in_and_records_monitors(tmp_path):
    assert "ieee13-data" in og.scenario_names()
    env, seed = og.Environment.from_scenario("ieee13-data")
    env.reset(seed=seed)
    assert list(env.iterate()) == list(range(24))
    grid = env.grid_records
    for column in ["v.675", "v.sourcebus", "Line.650632.kw", "Line.650632.loading", "Transformer.xfm1.amps"]:
        assert len(grid[column]) == 24, column
    # The last row is the grid's state after the last step.
    assert grid["v.675"][-1] == env.grid.voltages[env.grid.buses.index("675")]
    # Load 671 follows the commercial kW column: the source power follows the data's shape.
    kw = np.asarray(grid["total_power_kw"])
    assert kw[11] > 1.5 * kw[3]

    og.run_scenario("ieee13-data", out=tmp_path / "run")
    with open(tmp_path / "run" / "grid.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 24
    assert [float(r["v.675"]) for r in rows] == pytest.approx(list(grid["v.675"]), abs=0)


def test_bad_data_file_is_a_located_error(tmp_path):
    (tmp_path / "day.csv").write_text("hour,kw\n0,100\n1,abc\n")
    path = tmp_path / "s.toml"
    path.write_text(
        'steps = 2\n[grid]\ntype = "feeder"\nfeeder = "ieee13"\n[[timeseries]]\nfile = "day.csv"\n'
        'column = "kw"\nelements = ["Load.671"]\nquantity = "kw"\n'
    )
    with pytest.raises(ValueError, match=r"s.toml:6:8: .*day.csv:3: column `kw`: `abc` is not a finite number"):
        og.run_scenario(str(path))


def test_feeder_grid_monitors():
    grid = FeederGrid("ieee13", monitors={"voltages": True, "branches": ["Line.650632"]})
    env = Environment(grid, DoNothingMarket(), [DoNothingAgent()])
    env.reset()
    env.step()
    records = env.grid_records
    assert len(records["v.632"]) == 1 and len(records["Line.650632.amps"]) == 1
    plain = Environment(FeederGrid("ieee13"), DoNothingMarket(), [DoNothingAgent()])
    plain.reset()
    plain.step()
    assert not any(name.startswith("v.") for name in plain.grid_records)
    with pytest.raises(ValueError, match="unknown monitors key 'voltage'"):
        FeederGrid("ieee13", monitors={"voltage": True})
    with pytest.raises(ValueError, match="no branch `Line.nowhere`"):
        FeederGrid("ieee13", monitors={"branches": ["Line.nowhere"]})
