"""A Python agent's observe_market() runs after each market round, before it is recorded."""

from opengridgym import BaseAgent, BaseMarket, DoNothingGrid, Environment


class PriceListMarket(BaseMarket):
    """Round k dispatches price 10 + k and quantity 2 to every agent; clears after 3 rounds."""

    def reset(self):
        self.round = -1

    def step(self):
        self.round += 1

    def cleared(self):
        return self.round >= 2

    def dispatch(self, i):
        return (10.0 + self.round, 2.0)


class Settler(BaseAgent):
    def __init__(self, name):
        self.name = name
        self.calls = []

    def set_market_actions(self):
        self.calls.append("set_market_actions")
        self.market_actions = []

    def observe_market(self):
        self.calls.append("observe_market")
        price, quantity = self.env.market.dispatch(self.env.caller)
        self.reward = price * quantity


def test_observe_market_settles_each_round_before_recording():
    agent = Settler("s")
    env = Environment(DoNothingGrid(), PriceListMarket(), [agent], max_steps=2)
    env.reset(seed=1)
    env.run(2)
    assert agent.calls[:6] == ["set_market_actions", "observe_market"] * 3
    records = env.records
    rewards = list(records["reward"])
    rounds = list(records["market_round"])
    assert rounds == [0, 1, 2, 0, 1, 2]
    # The reward recorded with round k is this round's settlement: (10 + k) * 2.
    assert rewards == [20.0, 22.0, 24.0, 20.0, 22.0, 24.0]
