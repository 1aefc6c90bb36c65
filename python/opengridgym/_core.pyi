"""Type stubs of the extension module `opengridgym._core` (written in Rust)."""

from __future__ import annotations

import os
import pathlib
from typing import Any, Callable, Dict, Iterator, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

Action = Tuple[Any, ...]
"""A market or grid action tuple, e.g. ``("bid", p_max, p_min, q_max, q_min)`` or ``("scale_load", "671", 1.1)``."""

PathLike = Union[str, os.PathLike]
TableName = Literal["records", "grid"]

class SimulationError(RuntimeError):
    """A module of the environment failed (e.g. a power flow did not converge)."""

class StepInfo:
    """What one completed grid step did."""

    @property
    def grid_step(self) -> int: ...
    @property
    def start_time(self) -> float:
        """Grid time (s) when the step started (the market and the agents acted then)."""
    @property
    def time(self) -> float:
        """Grid time (s) after the step."""
    @property
    def market_rounds(self) -> int: ...
    @property
    def market_cleared(self) -> bool: ...
    @property
    def converged(self) -> bool: ...

class Event:
    """What a callback is told."""

    @property
    def kind(self) -> Literal["market_round", "grid_step"]: ...
    @property
    def grid_step(self) -> int: ...
    @property
    def market_round(self) -> Optional[int]: ...
    @property
    def time(self) -> float: ...
    @property
    def cleared(self) -> bool: ...
    @property
    def info(self) -> Optional[StepInfo]: ...

class EnvView:
    """``self.env`` of a Python module: the rest of the environment, during a
    call from the environment only (afterwards it raises RuntimeError)."""

    def __init__(self) -> None: ...
    @property
    def grid(self) -> Any:
        """The grid: your object for a Python grid, a read-only RustGrid handle for a built-in one."""
    @property
    def market(self) -> Any: ...
    @property
    def agents(self) -> List[Any]:
        """Every agent, in order (the caller included)."""
    @property
    def environment(self) -> Environment: ...
    @property
    def time(self) -> float:
        """Grid time in seconds when the call started."""
    @property
    def grid_step(self) -> int: ...
    @property
    def market_round(self) -> Optional[int]:
        """The current market round; None outside the market rounds."""
    @property
    def caller(self) -> Optional[int]:
        """Index of the calling agent; None for the grid, the market or a callback."""
    @property
    def valid(self) -> bool: ...

class RustGrid:
    """A grid implemented in Rust. Read-only once in an Environment."""

    @property
    def name(self) -> str: ...
    @property
    def time(self) -> float: ...
    @property
    def steps(self) -> int: ...
    @property
    def buses(self) -> List[str]: ...
    @property
    def voltages(self) -> npt.NDArray[np.float64]:
        """Per-unit voltage magnitude per bus (mean over its phases)."""
    @property
    def branches(self) -> List[str]: ...
    @property
    def branch_loading(self) -> npt.NDArray[np.float64]: ...
    @property
    def total_power_kw(self) -> float: ...
    @property
    def total_power_kvar(self) -> float: ...
    @property
    def losses_kw(self) -> float: ...
    @property
    def converged(self) -> bool: ...
    @property
    def in_environment(self) -> bool: ...
    def state(self) -> Dict[str, Any]: ...
    def topology(self) -> Optional[Dict[str, Any]]: ...
    def reset(self) -> None:
        """Resets a grid that is not in an environment."""
    def step(self) -> None:
        """Steps a grid that is not in an environment (no agent actions)."""

class DoNothingGrid(RustGrid):
    def __init__(self, step_s: float = 3600.0) -> None: ...

class FeederGrid(RustGrid):
    """A distribution feeder solved by OpenGridGym's OpenDSS-compatible power flow."""

    def __init__(
        self, name: str, step_s: float = 3600.0, shapes: Optional[str] = None, monitors: Optional[Dict[str, Any]] = None
    ) -> None: ...
    @staticmethod
    def from_file(
        path: PathLike, step_s: float = 3600.0, shapes: Optional[str] = None, monitors: Optional[Dict[str, Any]] = None
    ) -> FeederGrid:
        """``shapes="daily"``/``"yearly"``/``"duty"``: loads and DERs follow their shapes.
        ``monitors={"voltages": True, "branches": ["Line.650632"], "ders": True}``: the grid table's extra
        columns (``v.<bus>``; ``<branch>.kw/.kvar/.amps/.loading``; DER columns), as a scenario's ``[monitors]``."""
    @staticmethod
    def names() -> List[str]: ...
    @property
    def loads(self) -> List[Tuple[str, str]]:
        """Every load as ``(name, bus)``."""
    @property
    def ders(self) -> List[Tuple[str, str]]:
        """Generators, PV systems and storage as ``("Class.name", bus)``."""
    def der_power(self, name: str) -> Tuple[float, float]:
        """Output after the last step (kW, kvar; generation / discharge positive)."""
    def storage_kwh(self, name: str) -> float: ...
    @property
    def step_s(self) -> float: ...

class RustMarket:
    """A market implemented in Rust. Read-only once in an Environment."""

    @property
    def name(self) -> str: ...
    @property
    def in_environment(self) -> bool: ...
    def cleared(self) -> bool: ...
    def dispatch(self, index: int) -> Optional[Tuple[float, float]]: ...

class DoNothingMarket(RustMarket):
    def __init__(self) -> None: ...

class AuctionMarket(RustMarket):
    """The network-constrained price-quantity auction (Market 1) with nodal prices."""

    def __init__(
        self,
        rounds: int = 1,
        algorithm: Literal["tree", "clarabel"] = "tree",
        settlement: Literal["nodal", "rent_to_buyers"] = "nodal",
        infeasible_is_error: bool = False,
    ) -> None: ...
    @property
    def bus_prices(self) -> Dict[str, float]:
        """Nodal price per bus after the last round, ¢/kWh."""
    @property
    def welfare(self) -> Optional[float]: ...
    @property
    def last_infeasibility(self) -> Optional[str]: ...

class RustAgent:
    """An agent implemented in Rust. Read-only once in an Environment."""

    @property
    def name(self) -> str: ...
    @property
    def bus(self) -> Optional[str]: ...
    @property
    def market_actions(self) -> List[Action]: ...
    @property
    def grid_actions(self) -> List[Action]: ...
    @property
    def reward(self) -> float: ...
    @property
    def index(self) -> Optional[int]: ...
    @property
    def in_environment(self) -> bool: ...

class DoNothingAgent(RustAgent):
    def __init__(self, name: Optional[str] = None, bus: Optional[str] = None) -> None: ...

class ScriptedLoadAgent(RustAgent):
    def __init__(
        self,
        name: str,
        element: str,
        profile: Sequence[float],
        noise: float = 0.0,
        profile_interval_s: Optional[float] = None,
        bus: Optional[str] = None,
    ) -> None: ...

class Producer(RustAgent):
    def __init__(
        self,
        name: str,
        bus: str,
        capacity_kw: float,
        cost_min: float,
        cost_max: Optional[float] = None,
        strategy: Literal["truthful", "scripted_markup", "hill_climb"] = "truthful",
        markup_step: float = 0.05,
        markup_max: float = 0.5,
        inject_into_grid: bool = True,
    ) -> None: ...

class Consumer(RustAgent):
    def __init__(
        self,
        name: str,
        bus: str,
        demand_kw: float,
        flexibility: float,
        v_max: float,
        v_min: float,
        loads: Optional[Sequence[str]] = None,
    ) -> None: ...

class StepIterator(Iterator[int]):
    def __iter__(self) -> StepIterator: ...
    def __next__(self) -> int: ...

class Environment:
    """The environment (Algorithm 1): a grid, a market and agents, each a
    built-in Rust module or your own Python object."""

    def __init__(
        self,
        grid: Any,
        market: Any,
        agents: Sequence[Any],
        *,
        max_steps: Optional[int] = 96,
        max_market_rounds: int = 100,
        record: bool = True,
    ) -> None: ...
    @classmethod
    def from_scenario(
        cls, name_or_path: str, *, seed: Optional[int] = None, steps: Optional[int] = None
    ) -> Tuple[Environment, Optional[int]]: ...
    def reset(self, seed: Optional[int] = None) -> None: ...
    def step(self) -> StepInfo: ...
    def iterate(self, n: Optional[int] = None) -> StepIterator: ...
    def run(self, n: Optional[int] = None) -> int: ...
    def add_callback(
        self, fn: Callable[[Environment, Event], Any], on: Literal["grid_step", "market_round"] = "grid_step"
    ) -> None: ...
    def clear_callbacks(self) -> None: ...
    def request_stop(self) -> None: ...
    def snapshot(self) -> Environment: ...
    @property
    def grid(self) -> Any: ...
    @property
    def market(self) -> Any: ...
    @property
    def agents(self) -> List[Any]: ...
    @property
    def time(self) -> float: ...
    @property
    def grid_step(self) -> int: ...
    @property
    def seed(self) -> Optional[int]: ...
    max_steps: Optional[int]
    max_market_rounds: int
    recording: bool
    @property
    def records(self) -> Dict[str, np.ndarray]: ...
    @property
    def grid_records(self) -> Dict[str, np.ndarray]: ...
    def records_frame(self, table: TableName = "records") -> Any:
        """A pandas DataFrame (needs pandas)."""
    def to_csv(self, path: PathLike, table: TableName = "records") -> None: ...
    def to_parquet(self, path: PathLike, table: TableName = "records") -> None: ...
    def save(self, directory: PathLike, format: Literal["csv", "parquet"] = "csv") -> List[pathlib.Path]: ...

def run_scenario(
    name_or_path: str, *, seed: Optional[int] = None, steps: Optional[int] = None, out: Optional[PathLike] = None
) -> Dict[str, Any]: ...
def scenario_names() -> List[str]: ...
def _roundtrip_actions(market_actions: Any, grid_actions: Any) -> Tuple[List[Action], List[Action]]: ...

# ---- learning environments (ogg_vector; used by opengridgym.ai) ----

class RlEnv:
    """One learning environment: arrays in, arrays out (see opengridgym.ai)."""

    def __init__(self, spec_json: str) -> None: ...
    def describe(self) -> Dict[str, Any]:
        """learners, learner_kinds, obs_names, obs_low/high, action_kind, act_dim, act_low/high,
        n_actions, markup_levels, step_unit, episode_steps, rounds_per_step, max_episode_len, scenario."""
    def reset(self, seed: Optional[int] = None) -> npt.NDArray[np.float32]:
        """Observations (n_learners, obs_dim)."""
    def step(
        self, actions: npt.NDArray[np.float64]
    ) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.float64], bool, bool]:
        """actions (n_learners, act_dim) -> (obs, rewards, terminated, truncated)."""
    def info(self) -> Dict[str, Any]:
        """price, quantity_kw, bus_price, markup, raw_reward (per learner), grid_step, error."""
    @property
    def grid_step(self) -> int: ...
    def copy(self) -> RlEnv: ...

class RlVecEnv:
    """N learning environments stepped in parallel in Rust (rayon)."""

    def __init__(self, spec_json: str, num_envs: int, num_threads: int = 0, autoreset: str = "same_step") -> None: ...
    def describe(self) -> Dict[str, Any]: ...
    @property
    def num_envs(self) -> int: ...
    @property
    def num_threads(self) -> int: ...
    def threads_used(self) -> int: ...
    def clear_thread_stats(self) -> None: ...
    def reset(self, seed: Optional[int] = None) -> npt.NDArray[np.float32]:
        """Observations (N, L, O); environment k is seeded with seed + k."""
    def reset_one(self, k: int, seed: Optional[int] = None) -> npt.NDArray[np.float32]: ...
    def step(
        self, actions: npt.NDArray[np.float64]
    ) -> Tuple[
        npt.NDArray[np.float32], npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.float32]
    ]:
        """actions (N, L, A) -> (obs (N, L, O), rewards (N, L), terminated (N,), truncated (N,), final_obs (N, L, O))."""
    def info(self, k: int) -> Dict[str, Any]: ...

def sweep_runs(runs: Sequence[Tuple[str, float, int]], num_threads: int = 0) -> List[Dict[str, Any]]: ...
