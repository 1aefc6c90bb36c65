"""The description of a learning environment (``ogg_vector::EnvSpec`` in Rust).

Keys (all optional)::

    scenario="uc1"         # "uc1", a UC1 TOML file, or any scenario (built-in name or TOML file)
    learners=None          # agent names that learn (UC1: the four strategic producers; else every agent)
    action="markup"        # "markup" | "markup_index" | "curve" | "load"
    markup_max=2.0         # bound of the markup (and of the load multiplier)
    markup_levels=None     # the choices of "markup_index" (default 0, 0.25, ..., markup_max)
    step_unit="grid"       # "grid": a step is a grid step; "round": a step is a market round
    episode_steps=None     # grid steps per episode (UC1: 24; else the scenario's steps)
    rounds_per_step=1      # UC1: market rounds per grid step
    grid="ac"              # UC1: "ac" (AC power flow of the feeder each grid step) or "none"
    others="truthful"      # UC1: the other strategic producers: "truthful" | "scripted" | "hill-climb"
    elastic_share=0.0      # UC1: share of elastic consumers; elastic_seed picks them
    demand_profile=None    # demand multipliers per grid step (UC1 default: a residential day)
    demand_noise=0.05      # per consumer and step, seeded by reset(seed)
    reward_scale=0.01      # rewards (cents) x this
    voltage_penalty=0.0    # - penalty x sum over buses of max(0, |V - 1| - 0.05)
    record=False           # keep the core Environment's records
"""

from __future__ import annotations

import json
from typing import Any, Dict


def make_spec(spec: Dict[str, Any] | None = None, **kwargs: Any) -> Dict[str, Any]:
    """A spec dict from a dict and/or keywords (None values dropped), checked by Rust."""
    out: Dict[str, Any] = dict(spec or {})
    out.update(kwargs)
    out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items() if v is not None}
    from .._core import RlEnv  # noqa: F401  (import check only)

    # Building checks every key and value (unknown keys are errors naming the key).
    return out


def spec_json(spec: Dict[str, Any]) -> str:
    return json.dumps(spec)


def spec_info(spec: Dict[str, Any] | None = None, **kwargs: Any) -> Dict[str, Any]:
    """Spaces and names of the environment a spec describes (builds it once)."""
    from .._core import RlEnv

    return RlEnv(spec_json(make_spec(spec, **kwargs))).describe()
