"""Gymnasium ``VectorEnv``: N environments stepped in parallel in Rust.

::

    from opengridgym.ai import MarketVectorEnv
    envs = MarketVectorEnv(num_envs=16, scenario="uc1", learners=["g848"], others="scripted")
    obs, infos = envs.reset(seed=0)                  # obs: (16, obs_dim) float32
    obs, rewards, terminations, truncations, infos = envs.step(envs.action_space.sample())

Stepping runs in Rust on a rayon pool (``num_threads``, default one per core)
with the GIL released; arrays go in and out without per-agent Python objects.
Auto-reset is "same step" by default (an environment whose episode ended is
reset within the step; its last observation is in ``infos["final_obs"]``,
masked by ``infos["_final_obs"]``, as Gymnasium's ``AutoresetMode.SAME_STEP``)
or "next_step" (Gymnasium's default mode).

With several learners per environment, each (environment, learner) pair is a
slot of the vector (``num_envs × n_learners`` slots, learner-major within an
environment) sharing one policy — what SuperSuit's
``pettingzoo_env_to_vec_env_v1`` + ``concat_vec_envs_v1`` make of a
PettingZoo env, done in Rust.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

import numpy as np
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space

try:  # Gymnasium >= 1.1
    from gymnasium.vector import AutoresetMode
except ImportError:  # pragma: no cover
    AutoresetMode = None

from .._core import RlVecEnv
from . import _spaces
from .spec import make_spec


class MarketVectorEnv(VectorEnv):
    def __init__(
        self,
        num_envs: int,
        spec: Optional[Dict[str, Any]] = None,
        num_threads: int = 0,
        autoreset: str = "same_step",
        **kwargs: Any,
    ):
        self.spec_dict = make_spec(spec, **kwargs)
        self._core = RlVecEnv(json.dumps(self.spec_dict), int(num_envs), int(num_threads), autoreset)
        self._desc = self._core.describe()
        self.n_envs = int(num_envs)
        self.n_learners = len(self._desc["learners"])
        self.num_envs = self.n_envs * self.n_learners
        self.single_observation_space = _spaces.observation_space(self._desc)
        self.single_action_space = _spaces.action_space(self._desc)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._act_dim = int(self._desc["act_dim"])
        self._same_step = autoreset.replace("-", "_").lower() in ("same_step", "same")
        mode = {"same_step": "SAME_STEP", "same": "SAME_STEP", "next_step": "NEXT_STEP", "next": "NEXT_STEP"}.get(
            autoreset.replace("-", "_").lower(), "DISABLED"
        )
        self.metadata = {"autoreset_mode": getattr(AutoresetMode, mode) if AutoresetMode else mode}
        self.render_mode = None

    @property
    def description(self) -> Dict[str, Any]:
        return dict(self._desc)

    @property
    def num_threads(self) -> int:
        return self._core.num_threads

    def threads_used(self) -> int:
        """Distinct Rust threads that stepped environments since :meth:`clear_thread_stats`."""
        return self._core.threads_used()

    def clear_thread_stats(self) -> None:
        self._core.clear_thread_stats()

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        if seed is None and not hasattr(self, "_seeded"):
            seed = int(np.random.SeedSequence().entropy % (2**63))
        self._seeded = True
        obs = self._core.reset(seed)
        return obs.reshape(self.num_envs, -1), {}

    def step(self, actions: Any):
        acts = np.ascontiguousarray(np.asarray(actions, dtype=np.float64).reshape(self.n_envs, self.n_learners, self._act_dim))
        obs, rewards, terminated, truncated, final_obs = self._core.step(acts)
        term = np.repeat(terminated, self.n_learners)
        trunc = np.repeat(truncated, self.n_learners)
        infos: Dict[str, Any] = {}
        done = term | trunc
        if self._same_step and done.any():
            infos["final_obs"] = final_obs.reshape(self.num_envs, -1)
            infos["_final_obs"] = done
        return obs.reshape(self.num_envs, -1), rewards.reshape(-1), term, trunc, infos

    def close_extras(self, **kwargs: Any) -> None:
        pass
