"""The environment loop seen from Python: Algorithm 1's exact call order,
Python modules alone and mixed with built-in Rust ones, and what `self.env`
shows during a call."""

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
    EnvView,
    FeederGrid,
    ScriptedLoadAgent,
)


class Log(list):
    def __call__(self, *entry):
        self.append(entry)


class RecordingGrid(BaseGrid):
    name = "recording grid"
    step_s = 900.0

    def __init__(self, log):
        self.log = log

    def seed(self, seed):
        self.log("grid", "seed")

    def reset(self):
        self.log("grid", "reset")

    def step(self):
        self.log("grid", "step", self.env.grid_step)


class RecordingMarket(BaseMarket):
    """Clears after `rounds` rounds."""

    def __init__(self, log, rounds):
        self.log, self.rounds, self.round = log, rounds, 0

    def seed(self, seed):
        self.log("market", "seed")

    def reset(self):
        self.round = 0
        self.log("market", "reset", self.env.grid_step)

    def step(self):
        self.log("market", "step", self.env.grid_step, self.env.market_round)
        self.round += 1

    def cleared(self):
        self.log("market", "cleared")
        return self.round >= self.rounds

    def dispatch(self, i):
        self.log("market", "dispatch", i)
        return (10.0 + i, float(self.round))


class RecordingAgent(BaseAgent):
    def __init__(self, log, label):
        self.log, self.label = log, label

    def seed(self, seed):
        self.log(self.label, "seed")

    def reset(self):
        self.log(self.label, "reset")

    def set_market_actions(self):
        self.log(self.label, "set_market_actions", self.env.grid_step, self.env.market_round)

    def set_grid_actions(self):
        self.log(self.label, "set_grid_actions", self.env.grid_step)


def expected_step(t, rounds, agents=("a0", "a1")):
    out = [("market", "reset", t)]
    for r in range(rounds):
        out += [(a, "set_market_actions", t, r) for a in agents]
        out += [("market", "step", t, r), ("market", "cleared")]
        out += [("market", "dispatch", i) for i in range(len(agents))]
        out += [("cb1", "market_round", t, r), ("cb2", "market_round", t, r)]
    out += [(a, "set_grid_actions", t) for a in agents]
    out += [("grid", "step", t), ("cb1", "grid_step", t), ("cb2", "grid_step", t)]
    return out


def test_algorithm1_call_order_with_rounds_and_callbacks():
    log = Log()
    env = Environment(
        RecordingGrid(log), RecordingMarket(log, rounds=3), [RecordingAgent(log, "a0"), RecordingAgent(log, "a1")]
    )
    for name in ("cb1", "cb2"):  # callbacks run in the order added
        for on in ("market_round", "grid_step"):
            env.add_callback(
                lambda e, ev, name=name: log(name, ev.kind, ev.grid_step, *(() if ev.market_round is None else (ev.market_round,))),
                on=on,
            )

    env.reset(seed=1)
    assert log == [
        ("grid", "seed"),
        ("market", "seed"),
        ("a0", "seed"),
        ("a1", "seed"),
        ("grid", "reset"),
        ("a0", "reset"),
        ("a1", "reset"),
    ]
    del log[:]
    steps = []
    for t in env.iterate(2):
        steps.append(t)
        log("loop", t)  # the loop body runs after each completed grid step
    assert steps == [0, 1]
    assert log == expected_step(0, 3) + [("loop", 0)] + expected_step(1, 3) + [("loop", 1)]

    grid = env.grid_records
    assert list(grid["market_rounds"]) == [3, 3]
    assert list(grid["market_cleared"]) == [True, True]
    assert list(grid["time_s"]) == [0.0, 900.0]
    records = env.records
    assert len(records["agent"]) == 2 * 3 * 2  # steps x rounds x agents
    assert list(records["market_round"][:6]) == [0, 0, 1, 1, 2, 2]
    assert list(records["price"][:2]) == [10.0, 11.0]
    assert list(records["quantity"][:6]) == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]


def test_round_limit_stops_the_negotiation():
    log = Log()
    env = Environment(RecordingGrid(log), RecordingMarket(log, rounds=10**6), [RecordingAgent(log, "a0")], max_market_rounds=4)
    env.reset()
    info = env.step()
    assert info.market_rounds == 4 and not info.market_cleared
    assert sum(1 for e in log if e[:2] == ("market", "step")) == 4


def test_iterate_stops_at_max_steps_and_on_request():
    env = Environment(DoNothingGrid(), DoNothingMarket(), [DoNothingAgent()], max_steps=5)
    env.reset()
    assert list(env.iterate()) == [0, 1, 2, 3, 4]
    assert list(env.iterate()) == []  # the episode is over
    env.reset()
    assert list(env.iterate(2)) == [0, 1]
    assert list(env.iterate(10)) == [2, 3, 4]  # capped by max_steps

    env.max_steps = None
    env.reset()
    env.add_callback(lambda e, ev: e.request_stop() if ev.grid_step == 6 else None)
    assert list(env.iterate()) == list(range(7))
    with pytest.raises(RuntimeError, match="only be called from inside a callback"):
        env.request_stop()


def test_step_before_reset_resets_without_seed():
    env = Environment(DoNothingGrid(60.0), DoNothingMarket(), [])
    info = env.step()
    assert (info.grid_step, info.start_time, info.time, info.market_rounds) == (0, 0.0, 60.0, 1)
    assert env.grid_step == 1 and env.time == 60.0


class VoltageGrid(BaseGrid):
    """A toy grid: each bus voltage drops with the load scale the agents ask for."""

    buses = ("sourcebus", "a", "b")

    def reset(self):
        self.scale = {"a": 1.0, "b": 1.0}
        self.voltages = np.array([1.0, 0.99, 0.98])
        self.time = 0.0

    def step(self):
        for agent in self.env.agents:
            for action in agent.grid_actions:
                if action[0] == "scale_load":
                    self.scale[action[1]] = action[2]
        self.voltages = np.array([1.0, 1.0 - 0.01 * self.scale["a"], 1.0 - 0.02 * self.scale["b"]])
        self.total_power_kw = 100.0 * (self.scale["a"] + self.scale["b"])
        self.time += 1800.0


def test_python_grid_alone_feeds_the_records():
    env = Environment(VoltageGrid(), DoNothingMarket(), [DoNothingAgent(), DoNothingAgent()])
    env.reset()
    env.run(2)
    grid = env.grid_records
    assert list(grid["time_s"]) == [0.0, 1800.0]
    assert list(grid["min_voltage_pu"]) == pytest.approx([0.98, 0.98])
    assert list(grid["total_power_kw"]) == [200.0, 200.0]
    assert env.time == 3600.0


def test_python_grid_reads_rust_agents_actions():
    profile = [1.0, 2.0, 3.0]
    agents = [ScriptedLoadAgent("load_a", "a", profile), ScriptedLoadAgent("load_b", "b", [0.5])]
    env = Environment(VoltageGrid(), DoNothingMarket(), agents)
    env.reset()
    for t in env.iterate(3):
        assert env.agents[0].grid_actions == [("scale_load", "a", profile[t])]
        assert env.grid.voltages == pytest.approx([1.0, 1.0 - 0.01 * profile[t], 0.99])
        assert env.grid.total_power_kw == pytest.approx(100.0 * (profile[t] + 0.5))


class PayAsBid(BaseMarket):
    """Each round, dispatches every bidding agent at its own p_max for q_max."""

    def reset(self):
        self.outcome = {}

    def step(self):
        self.outcome = {}
        for i, agent in enumerate(self.env.agents):
            for action in agent.market_actions:
                if action[0] == "bid":
                    self.outcome[i] = (action[1], action[3])

    def dispatch(self, i):
        return self.outcome.get(i)


class Bidder(BaseAgent):
    def __init__(self, price, quantity):
        self.price, self.quantity = price, quantity

    def set_market_actions(self):
        self.market_actions = [("bid", self.price, 0.0, self.quantity, 0.0)]

    def set_grid_actions(self):
        mine = self.env.market.dispatch(self.env.caller)
        self.reward = -mine[0] * mine[1] if mine else 0.0


def test_python_market_alone():
    env = Environment(DoNothingGrid(), PayAsBid(), [DoNothingAgent(), DoNothingAgent(name="quiet", bus="671")])
    env.reset()
    env.step()
    r = env.records
    assert list(r["agent"]) == ["agent0", "quiet"]
    assert list(r["bus"]) == ["", "671"]
    assert np.isnan(r["price"]).all()


def test_python_agents_alone_and_market_reads_agents():
    agents = [Bidder(30.0, 2.0), Bidder(25.0, 4.0)]
    env = Environment(DoNothingGrid(), PayAsBid(), agents)
    env.reset()
    env.run(2)
    r = env.records
    assert list(r["price"]) == [30.0, 25.0, 30.0, 25.0]
    assert list(r["quantity"]) == [2.0, 4.0, 2.0, 4.0]
    # Rewards set in set_grid_actions of step 0 show in the rows of step 1.
    assert list(r["reward"]) == [0.0, 0.0, -60.0, -100.0]
    assert agents[0].reward == -60.0


def test_mixed_rust_and_python_modules():
    agents = [Bidder(30.0, 2.0), DoNothingAgent(), ScriptedLoadAgent("load", "a", [1.5]), Bidder(20.0, 1.0)]
    env = Environment(VoltageGrid(), PayAsBid(), agents)
    assert env.agents[1] is agents[1] and env.agents[0] is agents[0]
    env.reset(seed=3)
    env.run(3)
    r = env.records
    assert list(r["agent"][:4]) == ["agent0", "agent1", "load", "agent3"]
    assert list(r["price"][:4])[::3] == [30.0, 20.0]
    assert np.isnan(r["price"][1]) and np.isnan(r["price"][2])
    assert env.grid.voltages[1] == pytest.approx(0.985)
    # A Rust agent's handle is read-only and shows the environment's agent.
    assert agents[2].in_environment and agents[2].index == 2
    assert agents[2].grid_actions == [("scale_load", "a", 1.5)]
    with pytest.raises(ValueError, match="already belongs to an Environment"):
        Environment(DoNothingGrid(), DoNothingMarket(), [agents[1]])


def test_rust_grid_and_market_with_python_agent_only():
    grid = DoNothingGrid(300.0)
    env = Environment(grid, DoNothingMarket(), [Bidder(1.0, 1.0)])
    assert env.grid is grid
    env.reset()
    env.run(4)
    assert grid.time == 1200.0 and grid.steps == 4 and grid.in_environment
    with pytest.raises(RuntimeError, match="belongs to an Environment"):
        grid.step()


class Observer(BaseAgent):
    """Reads everything it can through self.env."""

    def __init__(self):
        self.seen = []

    def set_market_actions(self):
        env = self.env
        assert isinstance(env, EnvView) and env.valid
        others = [a for i, a in enumerate(env.agents) if i != env.caller]
        self.seen.append(
            dict(
                step=env.grid_step,
                round=env.market_round,
                time=env.time,
                me=env.agents[env.caller] is self,
                voltages=np.array(env.grid.voltages),
                other_actions=[list(a.market_actions) for a in others],
                market=env.market.name,
                grid_time=env.environment.time,
            )
        )

    def set_grid_actions(self):
        assert self.env.market_round is None  # outside the market rounds
        self.kept = self.env


def test_self_env_access_and_expiry():
    observer = Observer()
    env = Environment(VoltageGrid(), DoNothingMarket(), [Bidder(5.0, 1.0), observer, DoNothingAgent()])
    env.reset()
    env.run(2)
    first, second = observer.seen
    assert first["me"] and first["round"] == 0 and first["step"] == 0
    assert second["time"] == 1800.0 and second["grid_time"] == 1800.0
    np.testing.assert_allclose(first["voltages"], [1.0, 0.99, 0.98])
    # Agent 0 acted before the observer in this round; the Rust agent has no actions.
    assert first["other_actions"] == [[("bid", 5.0, 0.0, 1.0, 0.0)], []]
    assert first["market"] == "do-nothing market"
    # Outside the call the view has expired: it raises instead of dangling.
    assert not observer.kept.valid
    with pytest.raises(RuntimeError, match="expired"):
        observer.kept.grid
    with pytest.raises(AttributeError, match="set by the Environment"):
        Observer().env


class Reentrant(BaseAgent):
    def __init__(self, env_box):
        self.env_box = env_box

    def set_market_actions(self):
        self.env_box[0].step()

    def set_grid_actions(self):
        pass


def test_reentrant_step_is_refused():
    box = []
    env = Environment(DoNothingGrid(), DoNothingMarket(), [Reentrant(box)])
    box.append(env)
    env.reset()
    with pytest.raises(RuntimeError, match="is running"):
        env.step()
    assert env.grid_step == 0  # the failed step was not counted
    with pytest.raises(RuntimeError, match="is running"):
        env.step()


def test_callbacks_read_the_state_through_env():
    env = Environment(VoltageGrid(), DoNothingMarket(), [ScriptedLoadAgent("l", "b", [2.0])])
    seen = []
    env.add_callback(lambda e, ev: seen.append((ev.kind, e.grid_step, e.time, e.grid.voltages[2], e.agents[0].grid_actions)))
    env.reset()
    env.run(1)
    kind, step, time, v_b, actions = seen[0]
    assert (kind, step, time) == ("grid_step", 0, 1800.0)
    assert v_b == pytest.approx(0.96)
    assert actions == [("scale_load", "b", 2.0)]
    with pytest.raises(ValueError, match="on must be"):
        env.add_callback(print, on="sometimes")


def test_same_agent_object_twice_is_refused():
    a = Bidder(1, 1)
    with pytest.raises(ValueError, match="same object"):
        Environment(DoNothingGrid(), DoNothingMarket(), [a, a])


def test_wrong_module_types_are_named():
    with pytest.raises(TypeError, match="grid must be"):
        Environment(object(), DoNothingMarket(), [])
    with pytest.raises(TypeError, match=r"agents\[1\] must be"):
        Environment(DoNothingGrid(), DoNothingMarket(), [DoNothingAgent(), 42])
    with pytest.raises(TypeError, match=r"agents\[0\] is the class Bidder, not an instance"):
        Environment(DoNothingGrid(), DoNothingMarket(), [Bidder])


def test_rust_only_environments_step_in_threads():
    """Environments of Rust modules release the GIL while stepping; threads each run their own."""
    import threading

    results = {}

    def work(k):
        env = Environment(FeederGrid("ieee13"), DoNothingMarket(), [ScriptedLoadAgent("s", "671", [0.5, 1.0, 1.5], noise=0.1)])
        env.reset(seed=k % 2)
        env.run(12)
        results[k] = env.grid_records["total_power_kw"]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(results[0], results[2])
    np.testing.assert_array_equal(results[1], results[3])
    assert not np.array_equal(results[0], results[1])


def test_the_papers_usage():
    from opengridgym import BaseAgent, BaseGrid, BaseMarket, DoNothingAgent, DoNothingGrid, DoNothingMarket, Environment

    class MyAgent(BaseAgent):
        def set_market_actions(self):
            self.market_actions = [("bid", 30.0, 0.0, 5.0, 0.0)]

        def set_grid_actions(self):
            self.grid_actions = []

    assert issubclass(MyAgent, BaseAgent) and BaseGrid and BaseMarket
    env = Environment(DoNothingGrid(), DoNothingMarket(), [DoNothingAgent(), MyAgent()])
    env.reset()
    steps = [t for t in env.iterate()]
    assert steps == list(range(96))  # one day of 15-minute steps, as in the paper's code
    env.reset(seed=42)
    assert [t for t in env.iterate(3)] == [0, 1, 2]
