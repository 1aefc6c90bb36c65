"""Scenarios from Python: run_scenario and Environment.from_scenario."""

import json

import numpy as np
import pytest

import opengridgym as og


def test_built_in_scenarios_are_listed():
    assert "do-nothing" in og.scenario_names()


def test_run_scenario_writes_results(tmp_path):
    summary = og.run_scenario("do-nothing", seed=3, steps=5, out=tmp_path)
    assert summary["steps"] == 5 and summary["seed"] == 3 and summary["agents"] == 10
    assert summary["records_rows"] == 50 and summary["grid_rows"] == 5
    assert summary["final_time_s"] == 5 * 3600.0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "records.csv" in names and "summary.json" in names
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == 5


def test_run_scenario_from_a_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(
        'steps = 3\nstep_s = 60\n[grid]\ntype = "do-nothing"\n[market]\ntype = "do-nothing"\n'
        '[[agents]]\ntype = "do-nothing"\nname = "x"\ncount = 2\n'
    )
    summary = og.run_scenario(str(path))
    assert summary["scenario"] == "tiny" and summary["steps"] == 3 and summary["final_time_s"] == 180.0


def test_scenario_errors_name_the_place(tmp_path):
    with pytest.raises(ValueError, match="no such scenario"):
        og.run_scenario("no-such-scenario")
    path = tmp_path / "bad.toml"
    path.write_text('steps = 3\nstepz = 4\n[grid]\ntype = "do-nothing"\n[market]\ntype = "do-nothing"\n')
    with pytest.raises(ValueError, match=r"bad.toml:2:1: .*stepz"):
        og.run_scenario(str(path))


def test_environment_from_scenario_matches_run_scenario(tmp_path):
    env, seed = og.Environment.from_scenario("do-nothing", steps=4)
    assert env.max_steps == 4 and len(env.agents) == 10
    assert env.agents[0].name == "agent0"
    env.reset(seed=seed)
    assert list(env.iterate()) == [0, 1, 2, 3]
    env.to_csv(tmp_path / "mine.csv")
    og.run_scenario("do-nothing", steps=4, out=tmp_path / "run")
    assert (tmp_path / "mine.csv").read_text() == (tmp_path / "run" / "records.csv").read_text()
    np.testing.assert_array_equal(env.grid_records["time_s"], 3600.0 * np.arange(4))
