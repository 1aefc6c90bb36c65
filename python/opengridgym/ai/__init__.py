"""OpenGridGym for reinforcement learning: standard multi-agent and
single-agent APIs over any scenario, stepped in Rust.

* :class:`MarketParallelEnv` — a PettingZoo ``ParallelEnv`` (one entry per
  learning agent); :func:`aec_env` — its AEC view (PettingZoo's
  ``parallel_to_aec``).
* :class:`MarketGymEnv` — a Gymnasium ``Env`` for one learner (the other
  agents scripted).
* :class:`MarketVectorEnv` — a Gymnasium ``VectorEnv``: N environments stepped
  in parallel in Rust (rayon) with batched numpy arrays and auto-reset; with
  several learners each (environment, learner) pair is one slot (shared
  policy, as SuperSuit's ``pettingzoo_env_to_vec_env_v1`` does).
* :func:`make_spec` — the environment description all of them take (see
  ``docs`` in :mod:`opengridgym.ai.spec`).
* :func:`sweep` — market design × agent population × seed on all cores, or on
  Ray with ``ray_address=``.

Observation features (float32, ``spec_info(...)["obs_names"]``): own last
price, own last quantity, own bus price, feeder-head price, own last action,
demand level of the coming step, episode progress, hour of day (sin, cos),
market round, own bus voltage, one congestion flag per limited line.
Actions: ``"markup"`` Box([0], [markup_max]); ``"markup_index"``
Discrete(len(markup_levels)); ``"curve"`` Box(4) (p_max, p_min, q_max, q_min);
``"load"`` Box([0], [markup_max]) (a load multiplier).
"""

from __future__ import annotations

from typing import Any

from .spec import make_spec, spec_info

__all__ = [
    "make_spec",
    "spec_info",
    "MarketParallelEnv",
    "parallel_env",
    "aec_env",
    "MarketGymEnv",
    "MarketVectorEnv",
    "sweep",
    "SweepSpec",
]

_LAZY = {
    "MarketParallelEnv": ".pettingzoo_env",
    "parallel_env": ".pettingzoo_env",
    "aec_env": ".pettingzoo_env",
    "MarketGymEnv": ".gym_env",
    "MarketVectorEnv": ".vector_env",
    "sweep": ".sweeps",
    "SweepSpec": ".sweeps",
}


def __getattr__(name: str) -> Any:
    # PettingZoo and Gymnasium are optional: import them only when asked for.
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name], __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'opengridgym.ai' has no attribute {name!r}")
