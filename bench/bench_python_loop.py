#!/usr/bin/env python3
"""Overhead of the environment loop when agents are written in Python.

Do-nothing grid and market (built-in, Rust); N agents of one kind; one market
round per grid step, so each grid step calls every agent twice
(`set_market_actions`, `set_grid_actions`). Measured, in microseconds per grid
step (best of --repeats runs of many steps each, recording on unless stated):

* rust          -- N built-in DoNothingAgent (Rust): the loop alone, GIL released;
* python        -- N Python `BaseAgent` subclasses whose methods `pass`;
* python bid    -- N Python agents that set a bid and a grid action every call
                   (the action tuples are converted to Rust each call);
* py-loop       -- the same N `pass` agents driven by Algorithm 1 written in
                   plain Python (the paper's original design: Python loop,
                   Python modules), for comparison;
* ns/call       -- (python - rust) / (2 N): what one call of a Python agent
                   method costs through the Rust loop (frame, `self.env`,
                   reading back market_actions/grid_actions/reward).

Usage:  python bench/bench_python_loop.py [--agents 10 100 1000] [--repeats 5] [--seconds 0.2]
Build first with `.venv/bin/maturin develop` (numbers below are for that build).
"""
from __future__ import annotations

import argparse
import math
import platform
import time

from opengridgym import BaseAgent, DoNothingAgent, DoNothingGrid, DoNothingMarket, Environment


class PassAgent(BaseAgent):
    def set_market_actions(self):
        pass

    def set_grid_actions(self):
        pass


class BidAgent(BaseAgent):
    def set_market_actions(self):
        self.market_actions = [("bid", 30.0, 0.0, 1.0, 0.0)]
        self.reward = 1.0

    def set_grid_actions(self):
        self.grid_actions = [("scale_load", "671", 1.0)]


def time_env(make_agents, n: int, seconds: float, repeats: int, record: bool = True) -> float:
    """Best µs per grid step of Environment.run with n agents."""
    env = Environment(DoNothingGrid(), DoNothingMarket(), make_agents(n), max_steps=None, record=record)
    env.reset(seed=0)
    start = time.perf_counter()
    env.run(5)
    per_step = max((time.perf_counter() - start) / 5, 1e-7)
    steps = max(5, int(seconds / per_step))
    best = math.inf
    for _ in range(repeats):
        env.reset(seed=0)
        start = time.perf_counter()
        env.run(steps)
        best = min(best, (time.perf_counter() - start) / steps)
    return best * 1e6


class PyDoNothingGrid:
    def __init__(self, step_s=3600.0):
        self.step_s, self.t = step_s, 0.0

    def reset(self):
        self.t = 0.0

    def step(self):
        self.t += self.step_s


class PyDoNothingMarket:
    def reset(self):
        pass

    def step(self):
        pass

    def cleared(self):
        return True


def python_loop(agents, grid, market, steps: int, max_rounds: int = 100) -> None:
    """Algorithm 1 in plain Python (no recording): the paper's original design."""
    for _ in range(steps):
        market.reset()
        for _round in range(max_rounds):
            for agent in agents:
                agent.set_market_actions()
            market.step()
            if market.cleared():
                break
        for agent in agents:
            agent.set_grid_actions()
        grid.step()


def time_python_loop(n: int, seconds: float, repeats: int) -> float:
    agents = [PassAgent() for _ in range(n)]
    grid, market = PyDoNothingGrid(), PyDoNothingMarket()
    start = time.perf_counter()
    python_loop(agents, grid, market, 5)
    per_step = max((time.perf_counter() - start) / 5, 1e-7)
    steps = max(5, int(seconds / per_step))
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        python_loop(agents, grid, market, steps)
        best = min(best, (time.perf_counter() - start) / steps)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.2, help="length of each timed run")
    args = parser.parse_args()

    print(f"Python {platform.python_version()} on {platform.machine()}, best of {args.repeats}; µs per grid step")
    header = f"{'agents':>7} {'rust':>10} {'rust/no rec':>12} {'python':>10} {'python bid':>11} {'py-loop':>10} {'ns/call':>8}"
    print(header)
    print("-" * len(header))
    for n in args.agents:
        rust = time_env(lambda k: [DoNothingAgent() for _ in range(k)], n, args.seconds, args.repeats)
        rust_norec = time_env(lambda k: [DoNothingAgent() for _ in range(k)], n, args.seconds, args.repeats, record=False)
        python = time_env(lambda k: [PassAgent() for _ in range(k)], n, args.seconds, args.repeats)
        bid = time_env(lambda k: [BidAgent() for _ in range(k)], n, args.seconds, args.repeats)
        pyloop = time_python_loop(n, args.seconds, args.repeats)
        per_call_ns = (python - rust) / (2 * n) * 1e3
        print(f"{n:>7} {rust:>10.2f} {rust_norec:>12.2f} {python:>10.1f} {bid:>11.1f} {pyloop:>10.1f} {per_call_ns:>8.0f}")


if __name__ == "__main__":
    main()
