"""OpenGridGym: electricity markets on real distribution grids, with many agents.

The simulation loop (the paper's Algorithm 1) runs in Rust; grids, markets and
agents are built-in Rust modules or your own Python classes, in any mix::

    from opengridgym import Environment, DoNothingGrid, DoNothingMarket, BaseAgent

    class MyAgent(BaseAgent):
        def set_market_actions(self):
            self.market_actions = [("bid", 30.0, 0.0, 5.0, 0.0)]
        def set_grid_actions(self):
            pass

    env = Environment(DoNothingGrid(), DoNothingMarket(), [MyAgent() for _ in range(3)])
    env.reset(seed=42)
    for t in env.iterate(24):
        print(t, env.time)
    env.records_frame()      # pandas DataFrame, one row per (step, round, agent)

For reinforcement learning, :mod:`opengridgym.ai` puts any scenario behind
PettingZoo (``parallel_env``, ``aec_env``), Gymnasium (``MarketGymEnv``) and a
Gymnasium vector env stepped in parallel in Rust (``MarketVectorEnv``), and
runs sweeps locally or on Ray (``sweep``).
"""

from ._core import (
    AuctionMarket,
    Consumer,
    DoNothingAgent,
    DoNothingGrid,
    DoNothingMarket,
    Environment,
    EnvView,
    Event,
    FeederGrid,
    Producer,
    RustAgent,
    RustGrid,
    RustMarket,
    ScriptedLoadAgent,
    SimulationError,
    StepInfo,
    __version__,
    run_scenario,
    scenario_names,
)
from .base import BaseAgent, BaseGrid, BaseMarket

__all__ = [
    "Environment",
    "EnvView",
    "Event",
    "StepInfo",
    "SimulationError",
    "BaseGrid",
    "BaseMarket",
    "BaseAgent",
    "RustGrid",
    "RustMarket",
    "RustAgent",
    "DoNothingGrid",
    "FeederGrid",
    "DoNothingMarket",
    "AuctionMarket",
    "DoNothingAgent",
    "ScriptedLoadAgent",
    "Producer",
    "Consumer",
    "run_scenario",
    "scenario_names",
    "__version__",
]
