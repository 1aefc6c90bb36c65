"""Sweeps: market design × agent population × learner action × seed.

::

    from opengridgym.ai import sweep
    table = sweep({
        "base": {"scenario": "uc1", "learners": ["g848"], "grid": "ac"},
        "markets": {"nodal": {"settlement": "nodal"}, "budget-balanced": {"settlement": "rent_to_buyers"}},
        "populations": {"truthful": {"others": "truthful"}, "strategic": {"others": "scripted"},
                        "elastic": {"others": "scripted", "elastic_share": 0.5}},
        "actions": [0.0, 0.75],        # every learner holds this markup all episode
        "seeds": [0, 1, 2],
    })                                  # a list of rows (dicts); as_frame=True gives a pandas DataFrame

Each run is one episode in Rust. By default the runs are spread over every
core here (a rayon pool); with ``ray_address=`` (``"auto"``, ``"local"``, or a
cluster address ``"ray://host:10001"``) each run is a Ray task instead
(``ray.init(address=...)`` unless Ray is already initialised). The rows are
the same either way: every run is deterministic given its seed.

From a shell: ``python -m opengridgym.ai.sweeps FILE.toml [--ray ADDRESS] [--out table.csv]``
with the same keys in TOML (``[base]``, ``[markets.NAME]``, ``[populations.NAME]``,
``actions = [...]``, ``seeds = [...]``).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from typing import Any, Dict, List, Optional

from .._core import sweep_runs

SweepSpec = Dict[str, Any]

COLUMNS = ["run", "market", "population", "action", "seed", "learner", "reward", "mean_price", "steps",
           "congested_steps", "welfare", "congestion_rent", "error"]


def expand(spec: SweepSpec) -> List[Dict[str, Any]]:
    """The runs of a sweep, in order: (market, population, action, seed) varying fastest last."""
    unknown = set(spec) - {"base", "markets", "populations", "actions", "seeds"}
    if unknown:
        raise ValueError(f"unknown sweep keys: {sorted(unknown)} (known: base, markets, populations, actions, seeds)")
    base = dict(spec.get("base", {}))
    markets = spec.get("markets") or {"default": {}}
    populations = spec.get("populations") or {"default": {}}
    actions = list(spec.get("actions", [0.0]))
    seeds = list(spec.get("seeds", [0]))
    runs = []
    for (mname, mspec), (pname, pspec), action, seed in itertools.product(markets.items(), populations.items(), actions, seeds):
        env = {**base, **mspec, **pspec}
        runs.append({"market": mname, "population": pname, "action": float(action), "seed": int(seed), "spec": env})
    return runs


def _rows(runs: List[Dict[str, Any]], results: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    rows = []
    for i, (run, res) in enumerate(zip(runs, results)):
        head = {"run": i, "market": run["market"], "population": run["population"], "action": run["action"], "seed": run["seed"]}
        if "learners" not in res:
            rows.append({**head, "learner": None, "reward": None, "mean_price": None, "steps": 0, "congested_steps": 0,
                         "welfare": None, "congestion_rent": None, "error": res.get("error")})
            continue
        for k, name in enumerate(res["learners"]):
            rows.append({**head, "learner": name, "reward": res["reward"][k], "mean_price": res["mean_price"][k],
                         "steps": res["steps"], "congested_steps": res["congested_steps"], "welfare": res["welfare"],
                         "congestion_rent": res["congestion_rent"], "error": res["error"]})
    return rows


def _ray_results(runs: List[Dict[str, Any]], address: str, chunk: int) -> List[Dict[str, Any]]:
    try:
        import ray
    except ImportError as e:  # pragma: no cover
        raise ImportError("ray_address= needs Ray: pip install 'ray>=2'") from e
    if not ray.is_initialized():
        ray.init(address=None if address == "local" else address, ignore_reinit_error=True)

    @ray.remote(num_cpus=1)
    def run_chunk(batch):
        from opengridgym._core import sweep_runs as runs_in_rust

        return runs_in_rust(batch, 1)

    batches = [runs[i:i + chunk] for i in range(0, len(runs), chunk)]
    futures = [run_chunk.remote([(json.dumps(r["spec"]), r["action"], r["seed"]) for r in b]) for b in batches]
    return [res for part in ray.get(futures) for res in part]


def sweep(spec: SweepSpec, ray_address: Optional[str] = None, num_threads: int = 0, as_frame: bool = False, ray_chunk: int = 1):
    """Runs every combination (see the module docs); one row per run and learner."""
    runs = expand(spec)
    if ray_address:
        results = _ray_results(runs, ray_address, max(1, ray_chunk))
    else:
        results = sweep_runs([(json.dumps(r["spec"]), r["action"], r["seed"]) for r in runs], num_threads)
    rows = _rows(runs, results)
    if as_frame:
        import pandas as pd

        return pd.DataFrame(rows, columns=COLUMNS)
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m opengridgym.ai.sweeps", description="Run a sweep described in a TOML file.")
    ap.add_argument("file")
    ap.add_argument("--ray", metavar="ADDRESS", help="run on Ray (auto, local, or ray://host:port)")
    ap.add_argument("--threads", type=int, default=0, help="local threads (0: one per core)")
    ap.add_argument("--out", help="CSV file for the table (default: print it)")
    args = ap.parse_args(argv)
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore
    with open(args.file, "rb") as f:
        spec = tomllib.load(f)
    rows = sweep(spec, ray_address=args.ray, num_threads=args.threads)
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    if args.out:
        out.close()
        print(f"{len(rows)} rows -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
