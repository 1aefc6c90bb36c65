"""PettingZoo ``ParallelEnv`` over a scenario (one entry per learning agent).

::

    from opengridgym.ai import parallel_env
    env = parallel_env(scenario="uc1", learners=["g830", "g848"], others="scripted")
    obs, infos = env.reset(seed=0)
    while env.agents:
        actions = {a: env.action_space(a).sample() for a in env.agents}
        obs, rewards, terminations, truncations, infos = env.step(actions)

A step is a grid step (``step_unit="grid"``: the market's rounds and the AC
power flow) or one market round (``step_unit="round"``). Every learner ends
together: ``terminations`` at the end of the grid episode (``episode_steps``),
``truncations`` if a power flow fails (``infos[agent]["error"]`` says why).
A learner missing from ``actions`` acts as the default (no markup, i.e. its
truthful curve; a load at its nominal demand).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

import numpy as np
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

from .._core import RlEnv
from . import _spaces
from .spec import make_spec


class MarketParallelEnv(ParallelEnv):
    metadata = {"name": "opengridgym_market_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, spec: Optional[Dict[str, Any]] = None, render_mode: Optional[str] = None, **kwargs: Any):
        if render_mode is not None:
            raise ValueError("MarketParallelEnv has no render modes (read env.info or the recorder instead)")
        self.render_mode = None
        self.spec_dict = make_spec(spec, **kwargs)
        self._core = RlEnv(json.dumps(self.spec_dict))
        self._desc = self._core.describe()
        self.possible_agents = list(self._desc["learners"])
        self.agents: list = []
        self.observation_spaces = {a: _spaces.observation_space(self._desc) for a in self.possible_agents}
        self.action_spaces = {a: _spaces.action_space(self._desc) for a in self.possible_agents}
        self._default = _spaces.default_action(self._desc)
        self._actions = np.zeros((len(self.possible_agents), int(self._desc["act_dim"])), dtype=np.float64)

    @property
    def description(self) -> Dict[str, Any]:
        """Names, bounds and settings of the spaces (observation feature names in ``obs_names``)."""
        return dict(self._desc)

    def observation_space(self, agent: str):
        return self.observation_spaces[agent]

    def action_space(self, agent: str):
        return self.action_spaces[agent]

    def _infos(self) -> Dict[str, Dict[str, Any]]:
        info = self._core.info()
        out = {}
        for i, a in enumerate(self.possible_agents):
            entry = {
                "price": float(info["price"][i]),
                "quantity_kw": float(info["quantity_kw"][i]),
                "bus_price": float(info["bus_price"][i]),
                "markup": float(info["markup"][i]),
                "raw_reward": float(info["raw_reward"][i]),
                "grid_step": int(info["grid_step"]),
            }
            if info["error"] is not None:
                entry["error"] = info["error"]
            out[a] = entry
        return out

    def reset(self, seed: Optional[int] = None, options: Optional[dict] = None):
        obs = self._core.reset(seed)
        self.agents = self.possible_agents[:]
        return {a: obs[i] for i, a in enumerate(self.possible_agents)}, {a: {} for a in self.possible_agents}

    def step(self, actions: Dict[str, Any]):
        if not self.agents:
            raise RuntimeError("the episode is over (no agents left): call reset()")
        for i, a in enumerate(self.possible_agents):
            self._actions[i] = _spaces.to_row(self._desc, actions[a]) if a in actions else self._default
        obs, rewards, terminated, truncated = self._core.step(self._actions)
        agents = self.agents
        observations = {a: obs[i] for i, a in enumerate(self.possible_agents) if a in agents}
        reward = {a: float(rewards[i]) for i, a in enumerate(self.possible_agents) if a in agents}
        terminations = {a: bool(terminated) for a in agents}
        truncations = {a: bool(truncated) for a in agents}
        infos = {a: v for a, v in self._infos().items() if a in agents}
        if terminated or truncated:
            self.agents = []
        return observations, reward, terminations, truncations, infos

    def __reduce__(self):
        # Pickling (SuperSuit's concat_vec_envs, subprocess vector envs) rebuilds
        # the environment from its spec: a fresh environment, to be reset.
        return (MarketParallelEnv, (self.spec_dict,))

    def render(self):
        return None

    def close(self):
        pass


def parallel_env(spec: Optional[Dict[str, Any]] = None, **kwargs: Any) -> MarketParallelEnv:
    """A :class:`MarketParallelEnv` (PettingZoo's conventional constructor name)."""
    return MarketParallelEnv(spec, **kwargs)


def aec_env(spec: Optional[Dict[str, Any]] = None, **kwargs: Any):
    """The AEC view of :class:`MarketParallelEnv` (PettingZoo's ``parallel_to_aec``)."""
    return parallel_to_aec(MarketParallelEnv(spec, **kwargs))
