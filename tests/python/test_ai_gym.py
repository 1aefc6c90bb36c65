"""Gymnasium single-agent wrapper: the environment checker, and behaviour."""
from __future__ import annotations

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from opengridgym.ai import MarketGymEnv  # noqa: E402


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(scenario="uc1", learner="g848", others="scripted", episode_steps=6),
        dict(scenario="uc1", learner="g830", action="markup_index", grid="none", episode_steps=4),
        dict(scenario="uc1", learner="c890", action="curve", grid="none", episode_steps=4),
        dict(scenario="uc1", learner="g802", step_unit="round", rounds_per_step=3, grid="none", episode_steps=2),
        dict(scenario="uc3", learner="pv736", episode_steps=3),
        dict(scenario="uc2", learner="home848", episode_steps=50, grid="none"),
        dict(scenario="do-nothing", learner="agent0", action="curve", episode_steps=4),
        dict(scenario="ieee34-day", learner="s860", episode_steps=3),
    ],
    ids=["uc1-ac", "uc1-index", "uc1-consumer-curve", "uc1-rounds", "uc3-dlmp", "uc2-p2p", "do-nothing", "feeder-load"],
)
def test_check_env(kwargs):
    check_env(MarketGymEnv(**kwargs), skip_render_check=True)


def test_one_learner_only():
    with pytest.raises(ValueError, match="exactly one learner"):
        MarketGymEnv(scenario="uc1", learners=["g802", "g808"])


def test_bad_spec_names_the_key():
    with pytest.raises(ValueError, match="bogus"):
        MarketGymEnv(scenario="uc1", bogus=1)
    with pytest.raises(ValueError, match="no agent named 'nobody'"):
        MarketGymEnv(scenario="uc1", learner="nobody")


def test_markup_raises_price_under_congestion():
    # At the evening peak the scripted producers have marked up and the lines
    # into the tail are congested: a markup of the tail producer raises its price.
    def evening_price(markup):
        env = MarketGymEnv(scenario="uc1", learner="g848", others="scripted", grid="none", demand_noise=0.0)
        env.reset(seed=0)
        for _ in range(19):
            _, _, _, _, info = env.step(np.array([markup], dtype=np.float32))
        return info["price"]

    assert evening_price(1.0) > evening_price(0.0) + 0.5
