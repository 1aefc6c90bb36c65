"""Base classes for grids, markets and agents written in Python.

Subclass one, implement its methods (they take no arguments), and pass an
instance to :class:`opengridgym.Environment` alongside built-in Rust modules
or other Python ones. During every call from the environment, ``self.env``
shows the rest of the environment (see :class:`opengridgym.EnvView`)::

    class Shy(BaseAgent):
        def set_market_actions(self):
            v = self.env.grid.voltages            # numpy array, per bus
            self.market_actions = [("bid", 30.0, 0.0, 5.0, 0.0)] if v.min() > 0.95 else []

        def set_grid_actions(self):
            self.grid_actions = [("scale_load", "671", 1.1)]
            dispatch = self.env.market.dispatch(self.env.caller)   # (price, quantity) or None
            self.reward = -dispatch[0] * dispatch[1] if dispatch else 0.0

Attribute names the environment reads after each call:

* agents: ``market_actions`` (after ``set_market_actions``), ``grid_actions``
  (after ``set_grid_actions``), ``reward`` (after each call), ``name`` and
  ``bus`` (once, when the environment is built);
* markets: ``cleared()`` and ``dispatch(i)`` (after each ``step``);
* grids: ``time`` (s; if absent, steps × ``step_s``), ``buses``, ``voltages``
  (pu per bus), ``branches``, ``branch_loading``, ``total_power_kw``,
  ``total_power_kvar``, ``losses_kw``, ``converged`` (after ``reset`` and
  ``step``).

Action tuples: ``("bid", p_max, p_min, q_max, q_min)``, ``("offer", ...)``,
``("price", x)``; ``("set_load", element, kw[, kvar])``,
``("scale_load", element, multiplier)``, ``("inject", bus, kw, kvar)``;
``("set_generation", der, kw[, kvar])`` (a generator's or PV system's output;
for PV ``kw`` caps what the panels give; ``None`` keeps a value),
``("set_generation_pf", der, kw, pf)``, ``("set_storage", der, kw[, kvar])``
(kW > 0 discharges); the feeder grid clips them to the element's limits and
records what it applied (``"<Class.name>.kw"``, ``.kw_requested``, ``.clipped``,
``.kwh`` ...); any other ``(name, *numbers)`` is passed through as a custom action.

The name ``env`` is reserved: the environment sets it before each call.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np

__all__ = ["BaseGrid", "BaseMarket", "BaseAgent"]


class _EnvNotSet:
    """Class-level stand-in for ``self.env`` until an Environment calls the module."""

    def __get__(self, obj: Any, cls: type) -> Any:
        if obj is None:
            return self
        raise AttributeError(
            "self.env is set by the Environment while it calls this module (reset, step, "
            "set_market_actions, ...); this object has not been called by an Environment yet"
        )


class _Module:
    """What every Python module shares: ``self.env`` and a seeded ``self.rng``."""

    env = _EnvNotSet()
    name: Optional[str] = None

    def seed(self, seed: int) -> None:
        """Called by ``env.reset(seed=...)`` before ``reset`` with a seed derived
        for this module alone. The default seeds ``self.rng``; override it (and
        call ``super().seed(seed)``) to seed anything else."""
        self._rng = np.random.default_rng(seed)

    @property
    def rng(self) -> np.random.Generator:
        """This module's random generator (seeded by ``env.reset(seed=...)``)."""
        rng = getattr(self, "_rng", None)
        if rng is None:
            rng = self._rng = np.random.default_rng()
        return rng

    @rng.setter
    def rng(self, value: np.random.Generator) -> None:
        self._rng = value

    def reset(self) -> None:
        """Called at the start of an episode (markets: at the start of every grid step)."""


class BaseGrid(_Module):
    """A grid written in Python. ``reset()`` starts an episode; ``step()``
    applies the agents' grid actions (``a.grid_actions for a in
    self.env.agents``), solves and advances the clock."""

    name = "python grid"
    #: Seconds per grid step, used for the clock when ``time`` is not set.
    step_s: float = 3600.0
    buses: Sequence[str] = ()
    voltages: Sequence[float] = ()
    branches: Sequence[str] = ()
    branch_loading: Sequence[float] = ()
    total_power_kw: float = 0.0
    total_power_kvar: float = 0.0
    losses_kw: float = 0.0
    converged: bool = True

    def step(self) -> None:
        """One grid step (the default does nothing; the clock still advances by ``step_s``)."""


class BaseMarket(_Module):
    """A market written in Python. ``reset()`` runs at the start of every grid
    step, ``step()`` once per negotiation round after every agent set its
    ``market_actions``; ``cleared()`` ends the rounds; ``dispatch(i)`` tells
    agent ``i`` its ``(price, quantity)``."""

    name = "python market"

    def step(self) -> None:
        """One negotiation round (read ``a.market_actions for a in self.env.agents``)."""

    def cleared(self) -> bool:
        """Whether the negotiation of this grid step is over (default: after one round)."""
        return True

    def dispatch(self, index: int) -> Optional[Tuple[float, float]]:
        """``(price, quantity)`` for agent ``index`` after the last round, or None.
        Quantity > 0 = bought (consumed), < 0 = sold (produced)."""
        return None


class BaseAgent(_Module):
    """An agent written in Python: set ``self.market_actions`` in
    ``set_market_actions()`` (once per market round) and ``self.grid_actions``
    in ``set_grid_actions()`` (once per grid step); keep ``self.reward`` up to date.

    Optionally define ``observe_market()``: the environment calls it right after
    every market round has cleared and before the round is recorded, so an agent
    can settle against its dispatch (``self.env.market.dispatch(self.env.caller)``)
    and the recorded reward belongs to that round."""

    #: Name in the records (default: ``agent<i>``, i = position in the environment).
    name: Optional[str] = None
    #: The bus the agent sits at, if any.
    bus: Optional[str] = None
    market_actions: Sequence[Tuple[Any, ...]] = ()
    grid_actions: Sequence[Tuple[Any, ...]] = ()
    reward: float = 0.0

    def set_market_actions(self) -> None:
        """Decide this round's market actions (``self.market_actions = [...]``)."""

    def set_grid_actions(self) -> None:
        """Decide this grid step's grid actions (``self.grid_actions = [...]``)."""
