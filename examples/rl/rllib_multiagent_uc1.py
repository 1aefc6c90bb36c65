#!/usr/bin/env python3
"""RLlib multi-agent PPO on UC1: two producers in the tail of IEEE 34 (g830
and g848, one policy each) learn their hourly markups at the same time, over
several environment runners (processes), through RLlib's PettingZoo wrapper.

The other two price-responsive producers mark up as in the paper's
experiment 2 (scripted); the environment is `opengridgym.ai.parallel_env`.

Run (see README.md; RLlib pins an older Gymnasium, so it has its own requirements):
    .venv-rl/bin/python examples/rl/rllib_multiagent_uc1.py [--iterations 15] [--env-runners 2] [--address auto]
Writes examples/rl/rllib_results.json (the return of each policy per iteration).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENV_CONFIG = dict(scenario="uc1", learners=["g830", "g848"], others="scripted", grid="ac", episode_steps=24)


def env_creator(config):
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    from opengridgym.ai import parallel_env

    return ParallelPettingZooEnv(parallel_env(**config))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--env-runners", type=int, default=2)
    ap.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    ap.add_argument("--out", default=str(HERE / "rllib_results.json"))
    args = ap.parse_args()

    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.tune.registry import register_env

    ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
    register_env("opengridgym_uc1", env_creator)
    config = (
        PPOConfig()
        .environment("opengridgym_uc1", env_config=ENV_CONFIG)
        .env_runners(num_env_runners=args.env_runners, num_envs_per_env_runner=4, rollout_fragment_length="auto")
        .multi_agent(policies={"g830", "g848"}, policy_mapping_fn=lambda agent_id, *a, **k: agent_id)
        .training(train_batch_size_per_learner=4096, minibatch_size=256, num_epochs=10, gamma=0.9, lr=3e-4)
        .debugging(seed=0)
    )
    algo = config.build_algo()
    started = time.perf_counter()
    history = []
    for i in range(args.iterations):
        result = algo.train()
        runners = result.get("env_runners", {})
        per_policy = runners.get("agent_episode_returns_mean") or runners.get("policy_reward_mean") or {}
        row = {
            "iteration": i + 1,
            "env_steps": runners.get("num_env_steps_sampled_lifetime"),
            "episode_return_mean": runners.get("episode_return_mean"),
            "per_agent_return_mean": {k: float(v) for k, v in per_policy.items()},
            "wall_time_s": time.perf_counter() - started,
        }
        history.append(row)
        print(json.dumps(row), flush=True)
    algo.stop()
    ray.shutdown()
    Path(args.out).write_text(json.dumps({"env_config": ENV_CONFIG, "env_runners": args.env_runners, "history": history}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
