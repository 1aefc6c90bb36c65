"""The peer for `bench_p2p`: the same negotiation rounds, vectorised with NumPy.

What the original (Python) OpenGridGym would do at best: every pair's bids
drawn at once from its policy, the stage game resolved for all pairs, and the
quantal-response update of every learner as one matrix product per episode.
Same protocol as `ogg_p2p::population::Population`: random matching each
episode, T = 10 rounds, sampled estimator, alpha = 1, lambda = 5.

    python crates/p2p/bench/numpy_peer.py [--agents 1000,100000] [--rust bench_rust.json]

With --rust (the JSON written by `cargo run --release -p ogg-p2p --example
bench_p2p -- --json FILE`) it prints the Rust/NumPy ratios.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

T = 10
LAMBDA = 5.0
A = np.arange(21) * 0.5
UB, FEE, LOSE = 12.0, 0.5, 1.0


def payoff_matrices():
    bp, bc = A[:, None], A[None, :]
    trade = bp <= bc
    up = np.where(trade, bp - FEE, -LOSE)  # up[p, c]: producer's payoff
    uc = np.where(trade, UB - bp - FEE, -LOSE).T  # uc[c, p]: consumer's payoff
    return up, uc, trade


def softmax(x, axis):
    z = LAMBDA * (x - x.max(axis=axis, keepdims=True))
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


class Population:
    def __init__(self, pairs: int, dynamics: str, seed: int = 1):
        self.rng = np.random.default_rng(seed)
        self.n = pairs
        self.dynamics = dynamics
        self.up, self.uc, self.trade = payoff_matrices()
        # Eq. (11) kernels: k[o, a] = softmax_a(lambda u(a, o)).
        self.kp = softmax(self.up.T, axis=1)  # rows: consumer's bid o
        self.kc = softmax(self.uc.T, axis=1)  # rows: producer's ask o
        self.pp = np.full((pairs, 21), 1 / 21)
        self.pc = np.full((pairs, 21), 1 / 21)

    def sample(self, policy):
        cdf = np.cumsum(policy, axis=1)
        u = self.rng.random((self.n, T))
        # Index of the first bucket above u, per pair and round.
        idx = (cdf[:, None, :] <= u[:, :, None]).sum(axis=2)
        return np.minimum(idx, 20)

    def respond(self, counts, role):
        emp = counts / T
        if self.dynamics == "eq11":
            return emp @ (self.kp if role == "p" else self.kc)
        eu = emp @ (self.up.T if role == "p" else self.uc.T)
        return softmax(eu, axis=1)

    def episode(self):
        self.pc = self.pc[self.rng.permutation(self.n)]  # random matching
        bp, bc = self.sample(self.pp), self.sample(self.pc)  # (pairs, T)
        traded = self.trade[bp, bc]
        rows = np.repeat(np.arange(self.n), T)
        counts_c = np.zeros((self.n, 21))
        counts_p = np.zeros((self.n, 21))
        np.add.at(counts_c, (rows, bc.ravel()), 1)  # what the producer saw
        np.add.at(counts_p, (rows, bp.ravel()), 1)  # what the consumer saw
        self.pp, self.pc = self.respond(counts_c, "p"), self.respond(counts_p, "c")
        return traded.mean()


def measure(agents: int, dynamics: str, budget: float = 2.0) -> float:
    pop = Population(agents // 2, dynamics)
    pop.episode()
    start, episodes = time.perf_counter(), 0
    while time.perf_counter() - start < budget or episodes < 3:
        pop.episode()
        episodes += 1
    return episodes * T / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", default="1000,100000")
    ap.add_argument("--rust", help="JSON written by bench_p2p --json")
    args = ap.parse_args()
    rust = {}
    if args.rust:
        for row in json.load(open(args.rust)):
            rust[(row["engine"], row["agents"], row["dynamics"])] = row["rounds_per_s"]
    print(f"NumPy {np.__version__}: negotiation rounds per second (every pair bids once per round; T = {T})")
    print(f"{'agents':>8} {'dynamics':<8} {'numpy':>10} {'rust population':>16} {'ratio':>7} {'rust environment':>17} {'ratio':>7}")
    for n in [int(x) for x in args.agents.split(",")]:
        for d in ["eq11", "logit"]:
            r = measure(n, d)
            pop = rust.get(("population", n, d))
            env = rust.get(("environment", n, d))
            fmt = lambda v: (f"{v:>16.0f}", f"{v / r:>6.1f}x") if v else (f"{'-':>16}", f"{'-':>7}")
            (pv, pr), (ev, er) = fmt(pop), fmt(env)
            print(f"{n:>8} {d:<8} {r:>10.0f} {pv} {pr} {ev:>17} {er}")


if __name__ == "__main__":
    main()
