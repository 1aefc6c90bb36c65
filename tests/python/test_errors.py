"""Errors across the Rust/Python boundary: a user's exception reaches the
caller of env.step()/iterate() as itself; bad input is named."""

import sys
import traceback

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


class BiddingError(Exception):
    """A user's own exception class."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


class FailingAgent(BaseAgent):
    def __init__(self, fail_at_step):
        self.fail_at_step = fail_at_step

    def set_market_actions(self):
        self.market_actions = [("bid", 1.0, 0.0, 1.0, 0.0)]
        if self.env.grid_step == self.fail_at_step:
            self.compute_bid_that_fails()

    def compute_bid_that_fails(self):
        raise BiddingError(f"no price at step {self.env.grid_step}", code=7)


def make_env():
    return Environment(DoNothingGrid(), DoNothingMarket(), [DoNothingAgent(), FailingAgent(fail_at_step=2)])


def test_user_exception_reaches_the_caller_unchanged():
    env = make_env()
    env.reset()
    steps = []
    with pytest.raises(BiddingError) as info:
        for t in env.iterate():
            steps.append(t)
    assert steps == [0, 1]
    err = info.value
    assert type(err) is BiddingError
    assert str(err) == "no price at step 2"
    assert err.code == 7  # the very same exception object, attributes included
    functions = [entry.name for entry in info.traceback]
    assert "set_market_actions" in functions and "compute_bid_that_fails" in functions
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    assert "compute_bid_that_fails" in text
    if sys.version_info >= (3, 11):
        assert any("agent #1 'agent1'" in n and "set_market_actions" in n and "grid step 2" in n for n in err.__notes__)


def test_failed_step_is_not_counted_and_can_be_retried():
    env = make_env()
    env.reset()
    env.run(2)
    with pytest.raises(BiddingError):
        env.step()
    assert env.grid_step == 2
    assert len(env.grid_records["grid_step"]) == 2  # rows of the failed step were rolled back
    env.agents[1].fail_at_step = None
    info = env.step()
    assert info.grid_step == 2


def test_exception_from_step_propagates_too():
    env = make_env()
    env.reset()
    with pytest.raises(BiddingError, match="step 2"):
        env.run(5)


class BrokenGrid(BaseGrid):
    def step(self):
        raise KeyError("bus 999")


class BrokenMarket(BaseMarket):
    def cleared(self):
        return 1 / 0


class LoudCallback(Exception):
    pass


def test_exceptions_from_grid_market_and_callbacks():
    env = Environment(BrokenGrid(), DoNothingMarket(), [DoNothingAgent()])
    env.reset()
    with pytest.raises(KeyError, match="bus 999"):
        env.step()

    env = Environment(DoNothingGrid(), BrokenMarket(), [DoNothingAgent()])
    env.reset()
    with pytest.raises(ZeroDivisionError):
        env.step()

    env = Environment(DoNothingGrid(), DoNothingMarket(), [DoNothingAgent()])

    def callback(env, event):
        raise LoudCallback("from callback")

    env.add_callback(callback)
    env.reset()
    with pytest.raises(LoudCallback, match="from callback") as info:
        env.step()
    assert "callback" in [e.name for e in info.traceback]
    # A failing grid-step callback still leaves the step counted (it completed).
    assert env.grid_step == 1


def test_exception_in_reset_and_seed():
    class BadReset(BaseAgent):
        def reset(self):
            raise RuntimeError("cannot reset")

    env = Environment(DoNothingGrid(), DoNothingMarket(), [BadReset()])
    with pytest.raises(RuntimeError, match="cannot reset"):
        env.reset()

    class BadSeed(BaseAgent):
        def seed(self, seed):
            raise ValueError(f"bad seed {seed}")

    env = Environment(DoNothingGrid(), DoNothingMarket(), [BadSeed()])
    with pytest.raises(ValueError, match="bad seed"):
        env.reset(seed=1)
    env.reset()  # without a seed, seed() is not called


class BadActions(BaseAgent):
    def __init__(self, market_actions=(), grid_actions=()):
        self.m, self.g = market_actions, grid_actions

    def set_market_actions(self):
        self.market_actions = self.m

    def set_grid_actions(self):
        self.grid_actions = self.g


@pytest.mark.parametrize(
    "market_actions, grid_actions, error, message",
    [
        ([("bid", 1.0, 2.0)], [], ValueError, r"market_actions\[0\]: expected \(\"bid\", p_max, p_min, q_max, q_min\)"),
        ([("offer", 1.0, "x", 1.0, 0.0)], [], TypeError, r"item 2 must be a number, got str"),
        ([42], [], TypeError, r"market_actions\[0\] must be a tuple"),
        (5, [], TypeError, "must be a list of action tuples"),
        ([], [("scale_load", "671")], ValueError, r"grid_actions\[0\]: expected \(\"scale_load\", element, multiplier\)"),
        ([], [("set_load", 3, 1.0)], TypeError, "the second item must be a str"),
        ([], [("inject", "bus1", 1.0)], ValueError, r"\(\"inject\", bus, kw, kvar\)"),
    ],
)
def test_bad_actions_are_named(market_actions, grid_actions, error, message):
    env = Environment(DoNothingGrid(), DoNothingMarket(), [BadActions(market_actions, grid_actions)])
    env.reset()
    with pytest.raises(error, match=message):
        env.step()


def test_good_actions_round_trip_through_rust():
    from opengridgym._core import _roundtrip_actions

    market = [("bid", 1, 2, 3, 4), ("OFFER", 5, 6, 7, 8), ("price", 9), ("my_thing", 1, 2.5)]
    grid = [("set_load", "l1", 10), ("set_load", "l1", 10, 2), ("scale_load", "671", 1.1), ("inject_at_bus", "b", 1, -1), ("tap", 3)]
    m, g = _roundtrip_actions(market, grid)
    assert m == [("bid", 1.0, 2.0, 3.0, 4.0), ("offer", 5.0, 6.0, 7.0, 8.0), ("price", 9.0), ("my_thing", 1.0, 2.5)]
    assert g == [("set_load", "l1", 10.0), ("set_load", "l1", 10.0, 2.0), ("scale_load", "671", 1.1), ("inject", "b", 1.0, -1.0), ("tap", 3.0)]
    # A single tuple is one action; None is no action.
    assert _roundtrip_actions(("price", 3), None) == ([("price", 3.0)], [])


def test_invalid_rust_module_arguments():
    with pytest.raises(ValueError, match="profile is empty"):
        ScriptedLoadAgent("x", "671", [])
    with pytest.raises(ValueError, match="step_s"):
        DoNothingGrid(-1.0)
    with pytest.raises(OverflowError):
        Environment(DoNothingGrid(), DoNothingMarket(), []).reset(seed=-1)


def test_bad_grid_attributes_are_named():
    class BadGrid(BaseGrid):
        def step(self):
            self.voltages = ["high", "low"]

    env = Environment(BadGrid(), DoNothingMarket(), [])
    env.reset()
    with pytest.raises(TypeError, match="the grid's `voltages` attribute"):
        env.step()


def test_bad_dispatch_is_named():
    class BadMarket(BaseMarket):
        def dispatch(self, i):
            return "lots"

    env = Environment(DoNothingGrid(), BadMarket(), [DoNothingAgent()])
    env.reset()
    with pytest.raises(TypeError, match=r"dispatch\(0\) must return None, \(price, quantity\)"):
        env.step()
