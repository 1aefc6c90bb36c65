"""Seeds, snapshots, recorded tables and files, and memory."""

import csv
import gc
import weakref

import numpy as np
import pytest

from opengridgym import (
    BaseAgent,
    BaseGrid,
    BaseMarket,
    DoNothingAgent,
    DoNothingGrid,
    DoNothingMarket,
    Environment,
    ScriptedLoadAgent,
)


class NoisyBidder(BaseAgent):
    """Bids a random price from its own seeded generator."""

    def set_market_actions(self):
        self.market_actions = [("bid", float(self.rng.uniform(10, 50)), 0.0, 1.0, 0.0)]
        self.reward = float(self.rng.normal())

    def set_grid_actions(self):
        pass


class EchoMarket(BaseMarket):
    """Dispatches each agent at its bid price; draws a clearing noise itself."""

    def step(self):
        self.prices = [a.market_actions[0][1] if a.market_actions else None for a in self.env.agents]
        self.noise = float(self.rng.uniform())

    def dispatch(self, i):
        p = self.prices[i]
        return None if p is None else (p + self.noise, 1.0)


class LoadGrid(BaseGrid):
    buses = ("s", "a")

    def reset(self):
        self.voltages = np.array([1.0, 1.0])

    def step(self):
        m = [a for ag in self.env.agents for a in ag.grid_actions if a[0] == "scale_load"]
        self.voltages = np.array([1.0, 1.0 - 0.02 * (m[0][2] if m else 1.0)])


def build():
    agents = [NoisyBidder(), ScriptedLoadAgent("load", "a", [1.0, 1.2, 0.8], noise=0.1), NoisyBidder(), DoNothingAgent()]
    return Environment(LoadGrid(), EchoMarket(), agents)


def tables(env):
    return {**{"r." + k: v for k, v in env.records.items()}, **{"g." + k: v for k, v in env.grid_records.items()}}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if a[k].dtype == object:
            assert list(a[k]) == list(b[k]), k
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_same_seed_gives_identical_records():
    runs = []
    for _ in range(2):
        env = build()
        env.reset(seed=42)
        env.run(6)
        runs.append(tables(env))
    assert_same(*runs)
    assert len(runs[0]["r.price"]) == 6 * 4

    other = build()
    other.reset(seed=43)
    other.run(6)
    assert not np.array_equal(runs[0]["r.price"], other.records["price"], equal_nan=True)
    assert not np.array_equal(runs[0]["g.min_voltage_pu"], other.grid_records["min_voltage_pu"])


def test_reset_with_same_seed_repeats_the_episode():
    env = build()
    env.reset(seed=7)
    env.run(4)
    first = tables(env)
    env.reset(seed=7)
    env.run(4)
    assert_same(first, tables(env))
    assert env.seed == 7


def test_snapshot_continues_exactly_and_independently():
    env = build()
    env.reset(seed=5)
    env.run(3)
    copy = env.snapshot()
    assert copy.grid_step == 3 and copy.seed == 5
    assert copy.agents[0] is not env.agents[0]
    assert copy.agents[1] is not env.agents[1] and copy.agents[1].name == "load"
    env.run(4)
    copy.run(4)
    assert_same(tables(env), tables(copy))

    # Independent: changing one does not change the other.
    env.agents[0].rng = np.random.default_rng(0)
    env.run(1)
    copy.run(1)
    assert env.records["price"][-4] != copy.records["price"][-4]


def test_snapshot_keeps_shared_objects_shared_and_callbacks():
    shared = {"count": 0}

    class Counter(BaseAgent):
        def __init__(self):
            self.shared = shared

        def set_grid_actions(self):
            self.shared["count"] += 1

    env = Environment(DoNothingGrid(), DoNothingMarket(), [Counter(), Counter()])
    steps = []
    env.add_callback(lambda e, ev: steps.append(ev.grid_step))
    env.reset()
    env.run(1)
    copy = env.snapshot()
    a, b = copy.agents
    assert a.shared is b.shared and a.shared is not shared
    copy.run(2)
    assert a.shared["count"] == 2 + 4 and shared["count"] == 2
    assert steps == [0, 1, 2]  # the callback came along


def test_snapshot_of_uncopyable_module_raises_the_copy_error():
    class Uncopyable(BaseAgent):
        def __deepcopy__(self, memo):
            raise TypeError("cannot copy this agent")

    env = Environment(DoNothingGrid(), DoNothingMarket(), [Uncopyable()])
    with pytest.raises(TypeError, match="cannot copy this agent"):
        env.snapshot()
    env.run(1)  # the original is unaffected


def test_records_columns_and_types():
    env = build()
    env.reset(seed=1)
    env.run(2)
    r = env.records
    assert list(r)[:8] == ["time_s", "grid_step", "market_round", "agent", "bus", "price", "quantity", "reward"]
    assert r["time_s"].dtype == np.float64 and r["grid_step"].dtype == np.uint64
    assert list(r["agent"][:4]) == ["agent0", "load", "agent2", "agent3"]
    g = env.grid_records
    assert g["market_cleared"].dtype == np.bool_
    assert list(g["grid_step"]) == [0, 1]


def test_records_frame(tmp_path):
    pd = pytest.importorskip("pandas")
    env = build()
    env.reset(seed=2)
    env.run(3)
    frame = env.records_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 12
    assert list(frame["agent"][:2]) == ["agent0", "load"]
    np.testing.assert_array_equal(frame["price"].to_numpy(), env.records["price"])
    assert len(env.records_frame("grid")) == 3


def test_csv_and_parquet_files(tmp_path):
    env = build()
    env.reset(seed=2)
    env.run(3)
    path = tmp_path / "records.csv"
    env.to_csv(path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    assert float(rows[0]["price"]) == env.records["price"][0]
    assert rows[3]["price"] == ""  # missing = empty cell
    assert [r["agent"] for r in rows[:4]] == ["agent0", "load", "agent2", "agent3"]

    env.to_parquet(tmp_path / "grid.parquet", table="grid")
    assert (tmp_path / "grid.parquet").read_bytes()[:4] == b"PAR1"
    written = env.save(tmp_path / "out", format="csv")
    assert sorted(p.name for p in written) == ["grid.csv", "records.csv"]
    written = env.save(tmp_path / "out", format="parquet")
    assert sorted(p.name for p in written) == ["grid.parquet", "records.parquet"]
    with pytest.raises(ValueError, match="table must be"):
        env.to_csv(path, table="nope")
    with pytest.raises(OSError):
        env.to_csv(tmp_path / "no" / "such" / "dir" / "x.csv")


def test_parquet_reads_back_with_pyarrow(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    env = build()
    env.reset(seed=2)
    env.run(2)
    env.to_parquet(tmp_path / "r.parquet")
    table = pq.read_table(tmp_path / "r.parquet")
    assert table.column("agent").to_pylist()[:2] == ["agent0", "load"]


def test_recording_off():
    env = Environment(DoNothingGrid(), DoNothingMarket(), [DoNothingAgent()], record=False)
    env.run(3)
    assert len(env.records["time_s"]) == 0
    env.recording = True
    env.run(1)
    assert len(env.grid_records["time_s"]) == 1


def test_environment_with_python_modules_is_garbage_collected():
    class Keeper(BaseAgent):
        def set_market_actions(self):
            # A reference cycle through Rust: agent -> grid handle -> environment -> agent.
            self.grid = self.env.grid
            self.everyone = self.env.agents

    agent = Keeper()
    ref = weakref.ref(agent)
    env = Environment(DoNothingGrid(), DoNothingMarket(), [agent, DoNothingAgent()])
    env.add_callback(lambda e, ev: e)
    env.run(2)
    del env, agent
    gc.collect()
    assert ref() is None
