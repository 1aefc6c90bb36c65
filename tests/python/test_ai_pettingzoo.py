"""PettingZoo API: the parallel env, its AEC conversion and the seed tests,
on the three markets — UC1 (network-constrained auction, AC power flow), UC2
(P2P bargaining, bargaining rounds as steps), UC3 (DLMP from the DSO's OPF) —
and on do-nothing-market scenarios."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pettingzoo")
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test  # noqa: E402
from pettingzoo.utils.conversions import parallel_to_aec  # noqa: E402

from opengridgym.ai import MarketParallelEnv, aec_env, parallel_env  # noqa: E402

# Short episodes keep the API tests fast; each case is one market design / step unit / action kind.
CASES = {
    "uc1-grid-markup": dict(scenario="uc1", episode_steps=4),
    "uc1-round-index": dict(scenario="uc1", episode_steps=2, rounds_per_step=3, step_unit="round", action="markup_index", grid="none"),
    "uc1-curve-consumers": dict(scenario="uc1", episode_steps=3, action="curve", learners=["g848", "c890"], others="scripted"),
    "uc2-p2p-rounds": dict(scenario="uc2", episode_steps=50, step_unit="round", learners=["home830", "home848", "home860", "home890"]),
    "uc3-dlmp": dict(scenario="uc3", episode_steps=3, learners=["pv736", "mt738", "dr701"]),
    "uc3-dlmp-index-scripted": dict(scenario="uc3", episode_steps=2, action="markup_index", others="scripted", grid="none"),
    "do-nothing-market": dict(scenario="do-nothing", episode_steps=5, action="curve", learners=["agent0", "agent1", "agent2"]),
    "feeder-do-nothing-market-loads": dict(scenario="ieee34-day", episode_steps=3, learners=["s860", "s840"], voltage_penalty=1.0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_parallel_api(case):
    parallel_api_test(parallel_env(**CASES[case]), num_cycles=30)


@pytest.mark.parametrize("case", list(CASES))
def test_aec_api_checks_observations_in_spaces(case):
    # api_test on the AEC view also checks every observation lies in its space.
    api_test(aec_env(**CASES[case]), num_cycles=30)


@pytest.mark.parametrize("case", list(CASES))
def test_seed(case):
    parallel_seed_test(lambda: parallel_env(**CASES[case]), num_cycles=20)
    seed_test(lambda: aec_env(**CASES[case]), num_cycles=20)


def test_spaces_are_derived_from_the_scenario():
    env = MarketParallelEnv(scenario="uc1", grid="none")
    assert env.possible_agents == ["g802", "g808", "g830", "g848"]
    d = env.description
    assert d["obs_names"][:4] == ["price", "quantity", "bus_price", "head_price"]
    assert d["obs_names"][11:] == ["congested:800-802", "congested:802-806", "congested:808-812"]
    space = env.action_space("g848")
    assert space.shape == (1,) and space.low[0] == 0.0 and space.high[0] == 2.0
    assert env.observation_space("g848").shape == (14,)
    idx = MarketParallelEnv(scenario="uc1", action="markup_index", markup_levels=[0, 0.5, 1.0, 1.5], grid="none")
    assert idx.action_space("g802").n == 4
    curve = MarketParallelEnv(scenario="uc1", action="curve", grid="none")
    assert curve.action_space("g802").shape == (4,)


def test_episode_ends_with_the_grid_episode_and_rewards_come_from_the_market():
    env = MarketParallelEnv(scenario="uc1", learners=["g848"], others="scripted", episode_steps=24, grid="ac")
    obs, _ = env.reset(seed=0)
    total, steps = 0.0, 0
    while env.agents:
        obs, rew, term, trunc, info = env.step({"g848": np.array([0.0], dtype=np.float32)})
        total += rew["g848"]
        steps += 1
        assert env.observation_space("g848").contains(obs["g848"])
    assert steps == 24 and term["g848"] and not trunc["g848"]
    # The truthful producer earns p*q - c(q) > 0 in every hour of the day.
    assert total > 0
    assert info["g848"]["raw_reward"] == pytest.approx(100 * rew["g848"])


def test_round_steps_show_the_round_and_settle_every_round():
    env = MarketParallelEnv(scenario="uc1", grid="none", step_unit="round", rounds_per_step=4, episode_steps=1, learners=["g848"], others="scripted")
    obs, _ = env.reset(seed=1)
    rounds = []
    while env.agents:
        obs, rew, term, trunc, info = env.step({"g848": [0.5]})
        rounds.append(float(obs["g848"][9]))
    assert rounds == [0.25, 0.5, 0.75, 0.0]
