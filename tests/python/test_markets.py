"""The built-in auction (Market 1) with Python and Rust agents, and a Python
market reading Rust agents' bids."""

import numpy as np
import pytest

from opengridgym import (
    AuctionMarket,
    BaseAgent,
    BaseMarket,
    Consumer,
    DoNothingGrid,
    Environment,
    FeederGrid,
    Producer,
)


class FlatBuyer(BaseAgent):
    """Bids a flat price for a fixed quantity and keeps its surplus as reward."""

    def __init__(self, bus, price, kw):
        self.bus, self.price, self.kw = bus, price, kw
        self.seen = []

    def set_market_actions(self):
        self.market_actions = [("bid", self.price, self.price, self.kw, 0.0)]

    def set_grid_actions(self):
        mine = self.env.market.dispatch(self.env.caller)
        self.seen.append(mine)
        self.reward = (self.price - mine[0]) * mine[1] if mine else 0.0


def test_python_bidder_in_the_rust_auction():
    buyer = FlatBuyer("860", 10.0, 100.0)
    env = Environment(FeederGrid("ieee34"), AuctionMarket(), [Producer("head", "800", 2000.0, 4.0), buyer])
    env.reset(seed=0)
    env.run(2)
    # Uncongested: one price, the producer's; the buyer gets all it asked for.
    r = env.records
    assert list(r["price"][:2]) == pytest.approx([4.0, 4.0])
    assert list(r["quantity"][:2]) == pytest.approx([-100.0, 100.0])
    assert buyer.seen[0] == pytest.approx((4.0, 100.0))
    assert buyer.reward == pytest.approx((10.0 - 4.0) * 100.0)
    assert env.market.welfare == pytest.approx(600.0)
    prices = env.market.bus_prices
    assert "860" in prices and np.allclose(list(prices.values()), 4.0)
    assert env.agents[0].market_actions == [("offer", 4.0, 4.0, 2000.0, 0.0)]


class Inspector(BaseMarket):
    """A Python market that only looks at the bids."""

    def step(self):
        self.bids = [list(a.market_actions) for a in self.env.agents]


def test_python_market_reads_rust_agents_bids():
    market = Inspector()
    env = Environment(DoNothingGrid(), market, [Consumer("c", "844", 400.0, 0.5, 30.0, 8.0), FlatBuyer("b", 5.0, 1.0)])
    env.reset()
    env.step()
    assert market.bids == [[("bid", 30.0, 8.0, 400.0, 200.0)], [("bid", 5.0, 5.0, 1.0, 0.0)]]


def test_auction_arguments_are_checked():
    with pytest.raises(ValueError, match="algorithm"):
        AuctionMarket(algorithm="magic")
    with pytest.raises(ValueError, match="settlement"):
        AuctionMarket(settlement="free")
    with pytest.raises(ValueError, match="flexibility"):
        Consumer("c", "844", 10.0, 0.0, 30.0, 8.0)
    with pytest.raises(ValueError, match="strategy"):
        Producer("p", "800", 10.0, 1.0, strategy="greedy")


def test_auction_without_a_network_says_so():
    env = Environment(DoNothingGrid(), AuctionMarket(), [FlatBuyer("1", 1.0, 1.0)])
    env.reset()
    with pytest.raises(Exception, match="needs a network"):
        env.step()
