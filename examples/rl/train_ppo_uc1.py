#!/usr/bin/env python3
"""A strategic producer learns to exploit congestion in use case 1 (PPO).

The producer g848 sits in the tail of IEEE 34, behind the three congested
trunk lines of `scenarios/uc1.toml`. The other three price-responsive
producers mark their offers up as in the paper's experiment 2 (scripted:
+0.1 per hour up to 0.8), the feeder head offers at the wholesale price, 28
consumers bid their (mostly inelastic) demand along a residential daily
profile. Each hour the auction clears with nodal prices and the dispatch is
checked by the AC power flow of the feeder. g848 chooses its markup over its
hidden cost (0 = truthful, up to 2) every hour and earns p·q − c(q).

What there is to learn: when demand is low nothing is congested and any
markup loses sales to the competitors; at the evening peak the lines into the
tail congest, the tail becomes a price zone of its own and a markup of about
0.75 raises the tail's price (a textbook exercise of topology-induced market
power). The observation shows the demand level, the hour and the congestion
flags, so the best markup can be learned per hour.

Compared (mean daily reward over the same evaluation days, in $ = ¢/100):
* random     -- a markup drawn uniformly from [0, 2] every hour;
* truthful   -- markup 0 (offer the true cost);
* best fixed -- the best single markup for the whole day (grid search);
* hindsight  -- the best markup for each hour separately (grid search over
                the evaluation days: an upper reference no policy sees);
* PPO        -- Stable-Baselines3 PPO, deterministic policy.

Run (see README.md; about 3 minutes on 2 cores):
    .venv-rl/bin/python examples/rl/train_ppo_uc1.py [--timesteps 150000]
Writes examples/rl/learning_curve.png and examples/rl/results.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ENV_KWARGS = dict(scenario="uc1", learner="g848", others="scripted", grid="ac", episode_steps=24, demand_noise=0.05)
EVAL_SEEDS = list(range(1000, 1010))
MARKUP_GRID = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0]


def make_env():
    from opengridgym.ai import MarketGymEnv

    return MarketGymEnv(**ENV_KWARGS)


def run_day(env, seed: int, policy) -> tuple[float, list[float], list[float]]:
    """One evaluation day: total reward, the hourly rewards and markups."""
    obs, _ = env.reset(seed=seed)
    total, hourly, markups = 0.0, [], []
    done = False
    while not done:
        action = policy(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        hourly.append(reward)
        markups.append(info["markup"])
        done = terminated or truncated
    return total, hourly, markups


def evaluate(env, policy) -> dict:
    days = [run_day(env, s, policy) for s in EVAL_SEEDS]
    totals = np.array([d[0] for d in days])
    return {
        "mean": float(totals.mean()),
        "std": float(totals.std()),
        "hourly_mean": np.mean([d[1] for d in days], axis=0).tolist(),
        "markup_mean": np.mean([d[2] for d in days], axis=0).tolist(),
    }


def baselines(env) -> dict:
    rng = np.random.default_rng(0)
    out = {
        "random": evaluate(env, lambda obs: rng.uniform(0.0, 2.0, size=1).astype(np.float32)),
        "truthful": evaluate(env, lambda obs: np.zeros(1, dtype=np.float32)),
    }
    # Grid search: hourly rewards do not depend on earlier actions (the demand
    # noise stream is the same whatever the markups), so per-hour maxima of
    # constant-markup days give the best markup for each hour in hindsight.
    per_markup = {m: np.array([run_day(env, s, lambda obs, m=m: np.array([m], dtype=np.float32))[1] for s in EVAL_SEEDS]) for m in MARKUP_GRID}
    fixed = {m: float(r.sum(axis=1).mean()) for m, r in per_markup.items()}
    best_m = max(fixed, key=fixed.get)
    stacked = np.stack([per_markup[m] for m in MARKUP_GRID])  # markups × days × hours
    hindsight = stacked.max(axis=0).sum(axis=1)
    out["best_fixed"] = {"mean": fixed[best_m], "markup": best_m}
    out["hindsight"] = {
        "mean": float(hindsight.mean()),
        "best_markup_per_hour": [MARKUP_GRID[i] for i in stacked.mean(axis=1).argmax(axis=0)],
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timesteps", type=int, default=150_000)
    ap.add_argument("--eval-every", type=int, default=10_000)
    ap.add_argument("--n-envs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args()

    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    out = Path(args.out)
    eval_env = make_env()
    started = time.perf_counter()
    base = baselines(eval_env)
    print({k: round(v["mean"], 2) for k, v in base.items()})

    curve: list[tuple[int, float, float]] = []

    class EvalCallback(BaseCallback):
        def __init__(self):
            super().__init__()
            self.next_eval = 0

        def _evaluate(self):
            res = evaluate(eval_env, lambda obs: self.model.predict(obs, deterministic=True)[0])
            curve.append((self.num_timesteps, res["mean"], res["std"]))
            print(f"{self.num_timesteps:>8d} steps: daily reward {res['mean']:.2f} ± {res['std']:.2f}  ({time.perf_counter() - started:.0f} s)", flush=True)

        def _on_training_start(self):
            self._evaluate()
            self.next_eval = args.eval_every

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_eval:
                self._evaluate()
                self.next_eval += args.eval_every
            return True

    vec = make_vec_env(make_env, n_envs=args.n_envs, seed=args.seed)
    model = PPO(
        "MlpPolicy",
        vec,
        n_steps=512,
        batch_size=256,
        n_epochs=10,
        gamma=0.9,
        learning_rate=3e-4,
        policy_kwargs=dict(net_arch=[64, 64]),
        seed=args.seed,
        verbose=0,
    )
    model.learn(total_timesteps=args.timesteps, callback=EvalCallback())
    final = evaluate(eval_env, lambda obs: model.predict(obs, deterministic=True)[0])
    elapsed = time.perf_counter() - started

    results = {
        "setting": ENV_KWARGS,
        "evaluation_days": EVAL_SEEDS,
        "timesteps": args.timesteps,
        "seed": args.seed,
        "wall_time_s": elapsed,
        "daily_reward_usd": {
            "random": base["random"]["mean"],
            "truthful": base["truthful"]["mean"],
            "best_fixed_markup": base["best_fixed"]["mean"],
            "hindsight_best_markup_per_hour": base["hindsight"]["mean"],
            "ppo": final["mean"],
        },
        "best_fixed_markup": base["best_fixed"]["markup"],
        "hindsight_markup_per_hour": base["hindsight"]["best_markup_per_hour"],
        "ppo_markup_per_hour": final["markup_mean"],
        "ppo_hourly_reward": final["hourly_mean"],
        "truthful_hourly_reward": base["truthful"]["hourly_mean"],
        "learning_curve": [{"timesteps": t, "mean": m, "std": s} for t, m, s in curve],
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(out / "learning_curve.png", curve, base, final, results)
    r = results["daily_reward_usd"]
    print(
        f"\ndaily reward ($): random {r['random']:.2f}, truthful {r['truthful']:.2f}, best fixed markup {r['best_fixed_markup']:.2f} "
        f"(m = {results['best_fixed_markup']}), hindsight per hour {r['hindsight_best_markup_per_hour']:.2f}, PPO {r['ppo']:.2f}"
    )
    print(f"PPO markup per hour: {[round(m, 2) for m in final['markup_mean']]}")
    print(f"wrote {out / 'results.json'} and {out / 'learning_curve.png'} ({elapsed:.0f} s)")


def plot(path: Path, curve, base, final, results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    t = np.array([c[0] for c in curve]) / 1000
    m = np.array([c[1] for c in curve])
    s = np.array([c[2] for c in curve])
    ax.plot(t, m, "o-", color="C0", label="PPO (deterministic policy)")
    ax.fill_between(t, m - s, m + s, color="C0", alpha=0.15)
    for key, label, color, style in [
        ("hindsight", "best markup per hour (hindsight)", "C2", ":"),
        ("best_fixed", f"best fixed markup ({base['best_fixed']['markup']})", "C4", "-."),
        ("truthful", "truthful (markup 0)", "C1", "--"),
        ("random", "random markup in [0, 2]", "C3", "--"),
    ]:
        ax.axhline(base[key]["mean"], color=color, linestyle=style, label=label)
    ax.set_xlabel("training steps (thousands of hours)")
    ax.set_ylabel("daily reward of g848 ($, mean of 10 days)")
    ax.set_title("UC1 on IEEE 34: producer g848 learns its markup (PPO)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    hours = np.arange(24)
    ax2.step(hours, final["markup_mean"], where="mid", color="C0", label="PPO markup")
    ax2.step(hours, results["hindsight_markup_per_hour"], where="mid", color="C2", linestyle=":", label="best markup (hindsight)")
    ax2.set_xlabel("hour of the day")
    ax2.set_ylabel("markup over cost")
    ax2.set_title("Learned markup: high only at the congested peak")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
