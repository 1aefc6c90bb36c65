"""Gymnasium spaces from the Rust environment's description."""

from __future__ import annotations

from typing import Any, Dict

import numpy as np
from gymnasium import spaces


def observation_space(d: Dict[str, Any]) -> spaces.Box:
    return spaces.Box(
        low=np.asarray(d["obs_low"], dtype=np.float32),
        high=np.asarray(d["obs_high"], dtype=np.float32),
        dtype=np.float32,
    )


def action_space(d: Dict[str, Any]) -> spaces.Space:
    if d["n_actions"] is not None:
        return spaces.Discrete(int(d["n_actions"]))
    return spaces.Box(
        low=np.asarray(d["act_low"], dtype=np.float32),
        high=np.asarray(d["act_high"], dtype=np.float32),
        dtype=np.float32,
    )


def default_action(d: Dict[str, Any]) -> np.ndarray:
    """What a learner that sends nothing does: no markup / truthful, a load at its nominal demand."""
    a = np.zeros(int(d["act_dim"]), dtype=np.float64)
    if d["action_kind"] == "load":
        a[0] = 1.0
    elif d["action_kind"] == "curve":
        a[:] = np.asarray(d["act_low"], dtype=np.float64)
    return a


def to_row(d: Dict[str, Any], action: Any) -> np.ndarray:
    """One learner's action (array, list, scalar or index) as a float64 row."""
    row = np.asarray(action, dtype=np.float64).reshape(-1)
    if row.size != int(d["act_dim"]):
        raise ValueError(f"an action of {d['action_kind']!r} has {d['act_dim']} value(s), got {row.size}: {action!r}")
    return row
