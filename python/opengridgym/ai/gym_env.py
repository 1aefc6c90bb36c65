"""Gymnasium ``Env`` for one learner; every other agent follows its script.

::

    from opengridgym.ai import MarketGymEnv
    env = MarketGymEnv(scenario="uc1", learner="g848", others="scripted")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

Spaces as in :mod:`opengridgym.ai` (observation Box float32; action Box
float32, or Discrete for ``action="markup_index"``). ``terminated`` at the end
of the grid episode, ``truncated`` if a power flow fails.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

import gymnasium as gym
import numpy as np

from .._core import RlEnv
from . import _spaces
from .spec import make_spec


class MarketGymEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, spec: Optional[Dict[str, Any]] = None, learner: Optional[str] = None, render_mode: Optional[str] = None, **kwargs: Any):
        if render_mode is not None:
            raise ValueError("MarketGymEnv has no render modes")
        spec = make_spec(spec, **kwargs)
        if learner is not None:
            spec["learners"] = [learner]
        elif spec.get("scenario", "uc1") == "uc1" and "learners" not in spec:
            spec["learners"] = ["g848"]
        if len(spec.get("learners", [])) != 1:
            raise ValueError(f"MarketGymEnv has exactly one learner; got learners={spec.get('learners')!r} (use MarketParallelEnv for several)")
        self.spec_dict = spec
        self._core = RlEnv(json.dumps(spec))
        self._desc = self._core.describe()
        self.learner = self._desc["learners"][0]
        self.observation_space = _spaces.observation_space(self._desc)
        self.action_space = _spaces.action_space(self._desc)
        self._row = np.zeros((1, int(self._desc["act_dim"])), dtype=np.float64)

    @property
    def description(self) -> Dict[str, Any]:
        return dict(self._desc)

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        # Gymnasium seeds self.np_random; the simulation is seeded from the same number.
        if seed is None and not hasattr(self, "_seeded"):
            seed = int(self.np_random.integers(0, 2**63 - 1))
        self._seeded = True
        obs = self._core.reset(seed)
        return obs[0], {}

    def step(self, action: Any):
        self._row[0] = _spaces.to_row(self._desc, action)
        obs, rewards, terminated, truncated = self._core.step(self._row)
        info = self._core.info()
        out = {k: (float(v[0]) if isinstance(v, np.ndarray) else v) for k, v in info.items() if v is not None}
        return obs[0], float(rewards[0]), bool(terminated), bool(truncated), out

    def __reduce__(self):
        # Pickling (subprocess vector envs) rebuilds the environment from its spec.
        return (MarketGymEnv, (self.spec_dict,))

    def render(self):
        return None
