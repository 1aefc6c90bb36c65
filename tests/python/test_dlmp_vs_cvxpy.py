"""DLMPs (Market 3) against independent CVXPY + Clarabel formulations.

Our side runs through `ogg market dlmp` when the `ogg` binary has that
subcommand, else through the `dlmp_clear` example of ogg-dlmp (built by
`cargo test -p ogg-dlmp` or `cargo build -p ogg-dlmp --examples`), which
takes the same arguments. CVXPY solves the same OPFs written from scratch
here, in each formulation:

* dc          — the paper: lossless active power, one flow per line, |f| ≤ f_max;
* lindistflow — P, Q, squared voltages, |S| ≤ S_max, losses r(P² + Q²) linearised
                at the flows of the fixed demand (computed here independently);
* socp        — the branch-flow relaxation with squared currents ℓ ≥ (P² + Q²)/w.

Our side is checked with each of its solvers: our tree-structured interior
point (the default, `--solver tree-ipm`: dc, lindistflow, socp), Clarabel
(`--solver clarabel`: lindistflow-clarabel, socp-clarabel) and, for the
lossless model, ogg-market's exact tree algorithm (dc-tree, `--solver tree`).

Regulators (IEEE 34/37) float their ratio in [tap_min, tap_max] and hold the
regulated bus in their band. DLMPs are the balance rows' duals; the sign of
CVXPY's duals is calibrated on a one-bus problem. The network data (per-unit
impedances, limits, regulator bands) of the IEEE feeders come from the
network.csv our side writes; the random trees and every offer are made here.

Checked: DLMPs and dispatch within 1e-5 relative on IEEE 37, IEEE 34 and
random radial trees, for every formulation; our decomposition sums to the
DLMP; the SOCP exactness report agrees with CVXPY's gaps on a case known to
be exact and on one known not to be (a negative LMP makes phantom losses pay).
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO_ROOT, ogg_binary

cp = pytest.importorskip("cvxpy", reason="CVXPY is not installed (pip install cvxpy clarabel)")
pytest.importorskip("clarabel", reason="Clarabel's Python package is not installed")

REL_TOL = 1e-5
CLARABEL_OPTS = dict(tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10, tol_ktratio=1e-8, max_iter=400)
# Looser settings to retry with when the tight ones end "optimal_inaccurate" (large trees).
CLARABEL_RETRY = dict(tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9, tol_ktratio=1e-7, max_iter=400)

# Public load data of the IEEE feeders, per bus: (kW, kvar).
IEEE37_LOADS = {
    "701": (630, 315), "742": (93, 44), "712": (85, 40), "713": (85, 40), "714": (38, 18), "718": (85, 40),
    "720": (85, 40), "724": (42, 21), "722": (161, 80), "725": (42, 21), "727": (42, 21), "744": (42, 21),
    "728": (126, 63), "729": (42, 21), "730": (85, 40), "731": (85, 40), "733": (85, 40), "734": (42, 21),
    "737": (140, 70), "738": (126, 62), "741": (42, 21), "740": (85, 40), "735": (85, 40), "736": (42, 21),
    "732": (42, 21),
}
IEEE34_LOADS = {
    "830": (48.5, 21.5), "860": (174, 106), "840": (47, 31), "844": (432, 329), "848": (71.5, 53.5),
    "890": (450, 225), "802": (27.5, 14.5), "806": (27.5, 14.5), "808": (8, 4), "810": (8, 4), "816": (2.5, 1),
    "824": (24.5, 12), "818": (17, 8.5), "820": (84.5, 43.5), "822": (67.5, 35), "826": (20, 10),
    "828": (5.5, 2.5), "854": (2, 1), "856": (2, 1), "832": (7.5, 3.5), "858": (24.5, 12.5), "834": (89, 45),
    "864": (1, 0.5), "836": (61, 31.5), "862": (14, 7), "838": (14, 7), "842": (4.5, 2.5), "846": (34, 17),
}


def _dlmp_command() -> list[str] | None:
    """The command that clears one DLMP interval, or None."""
    env = os.environ.get("OGG_DLMP_CLEAR")
    if env:
        return [env] if Path(env).is_file() else None
    ogg = ogg_binary()
    if ogg is not None:
        probe = subprocess.run([str(ogg), "market", "dlmp", "--help"], capture_output=True, text=True)
        if probe.returncode == 0:
            return [str(ogg), "market", "dlmp"]
    for profile in ("release", "debug"):
        exe = REPO_ROOT / "target" / profile / "examples" / "dlmp_clear"
        if exe.is_file():
            return [str(exe)]
    return None


CMD = _dlmp_command()
pytestmark = pytest.mark.skipif(
    CMD is None,
    reason="neither `ogg market dlmp` nor target/*/examples/dlmp_clear exists "
    "(run `cargo build -p ogg-cli` or `cargo build -p ogg-dlmp --examples` first)",
)


# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------
@dataclass
class Offer:
    id: str
    bus: str
    kind: str  # generator | dr | load
    p_min: float  # kW
    p_max: float  # kW
    c: tuple = (0.0, 0.0, 0.0)  # $/h of MW
    pwl: list | None = None  # [(MW, $/h)]
    q_per_p: float = 0.0


@dataclass
class Net:
    buses: list
    root: int
    parent: list  # -1 for the root
    r: np.ndarray
    x: np.ndarray
    tap: np.ndarray
    limit_kw: np.ndarray
    reg: dict = field(default_factory=dict)  # edge (child id) -> (v_low, v_high, t_min, t_max)

    @property
    def n(self) -> int:
        return len(self.buses)

    def index(self, name: str) -> int:
        return self.buses.index(name)

    def children(self) -> list[list[int]]:
        ch = [[] for _ in range(self.n)]
        for i, p in enumerate(self.parent):
            if p >= 0:
                ch[p].append(i)
        return ch

    def order(self) -> list[int]:
        """Breadth-first from the root."""
        ch, out = self.children(), [self.root]
        for i in out:
            out.extend(ch[i])
        return out


def net_from_edges(rows: list[dict]) -> Net:
    """From edge rows (from_bus, to_bus, limit_kw, r_pu, x_pu[, tap, reg_*]); the first row's from_bus is the root."""
    buses = [rows[0]["from_bus"]]
    for r in rows:
        for b in (r["from_bus"], r["to_bus"]):
            if b not in buses:
                buses.append(b)
    n = len(buses)
    parent = [-1] * n
    r_pu, x_pu, tap, lim = np.zeros(n), np.zeros(n), np.ones(n), np.full(n, np.inf)
    reg = {}
    for row in rows:
        a, b = buses.index(row["from_bus"]), buses.index(row["to_bus"])
        parent[b] = a
        r_pu[b], x_pu[b] = float(row["r_pu"]), float(row["x_pu"])
        tap[b] = float(row.get("tap") or 1.0)
        lim[b] = float(row["limit_kw"]) if row.get("limit_kw") not in (None, "", "inf") else np.inf
        if row.get("reg_v_low"):
            reg[b] = tuple(float(row[k]) for k in ("reg_v_low", "reg_v_high", "tap_min", "tap_max"))
    return Net(buses, 0, parent, r_pu, x_pu, tap, lim, reg)


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def offer_rows(offers: list[Offer]) -> list[list]:
    rows = []
    for o in offers:
        pwl = ";".join(f"{p}:{c}" for p, c in o.pwl) if o.pwl else ""
        c = ("", "", "") if o.pwl else o.c
        rows.append([o.id, o.bus, o.kind, o.p_min, o.p_max, *c, pwl, o.q_per_p])
    return rows


# ----------------------------------------------------------------------------
# Our side
# ----------------------------------------------------------------------------
FORMULATIONS = ["dc", "dc-tree", "lindistflow", "socp", "lindistflow-clarabel", "socp-clarabel"]


def base_formulation(formulation: str) -> str:
    """The OPF a test variant solves (dc-tree → dc, socp-clarabel → socp)."""
    return formulation.split("-")[0]


def run_ours(tmp: Path, feeder: str, offers: list[Offer], formulation: str, args: list[str]) -> dict:
    """`formulation` dc-tree is the lossless model cleared by the exact tree
    algorithm (--solver tree); X-clarabel is X solved by Clarabel
    (--solver clarabel); the others use the default solver, tree-ipm."""
    solver = {"tree": "tree", "clarabel": "clarabel"}.get(formulation.partition("-")[2], "tree-ipm")
    formulation = base_formulation(formulation)
    if solver != "tree-ipm":
        args = args + ["--solver", solver]
    tmp.mkdir(parents=True, exist_ok=True)
    write_csv(tmp / "offers.csv", ["id", "bus", "kind", "p_min_kw", "p_max_kw", "c0", "c1", "c2", "pwl", "q_per_p"], offer_rows(offers))
    out = tmp / f"out-{formulation}"
    cmd = CMD + ["--feeder", feeder, "--offers", str(tmp / "offers.csv"), "--formulation", formulation, "--no-ac", "--tol", "1e-10",
                 "--out", str(out)] + args
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    assert lines, f"no report from {' '.join(cmd)}:\n{proc.stdout}\n{proc.stderr}"
    report = json.loads(lines[-1])
    # The solver asked for answered (tree-ipm did not fall back to Clarabel).
    assert "--ptdf" in args or report.get("solver") == solver, f"{' '.join(cmd)}: solved by {report.get('solver')}, not {solver}"
    res = {"report": report, "network": read_csv(out / "network.csv")}
    if report["status"] == "optimal":
        res["buses"] = {r["bus"]: r for r in read_csv(out / "buses.csv")}
        res["dispatch"] = {r["id"]: r for r in read_csv(out / "dispatch.csv")}
        res["lines"] = read_csv(out / "lines.csv")
    return res


# ----------------------------------------------------------------------------
# The independent CVXPY formulations
# ----------------------------------------------------------------------------
def _dual_sign() -> float:
    """CVXPY's sign for the dual of `supply − demand == 0`: +1 if the dual is the marginal cost of demand."""
    s = cp.Variable(nonneg=True)
    con = s - 1.0 == 0
    cp.Problem(cp.Minimize(30.0 * s), [con]).solve(solver=cp.CLARABEL)
    return 1.0 if con.dual_value > 0 else -1.0


SIGN = _dual_sign()


def solve_cvxpy(net: Net, offers: list[Offer], formulation: str, lmp: float, export: float = 0.0, v_min: float = 0.95,
                v_max: float = 1.05, v_source: float = 1.0, exempt: tuple = (), losses: bool = True) -> dict:
    n = net.n
    ch = net.children()
    order = net.order()
    kb = 1000.0  # kW per unit (1 MVA base: per-unit power = MW)
    p_inj = [0 for _ in range(n)]  # CVXPY expressions or numbers, per unit
    q_inj = [0 for _ in range(n)]
    cost = 0
    fixed_p = np.zeros(n)  # fixed demand (loads, DR baselines), for the loss base point
    fixed_q = np.zeros(n)
    variables = {}
    for o in offers:
        j = net.index(o.bus)
        if o.kind == "load":
            p_inj[j] = p_inj[j] - o.p_max / kb
            q_inj[j] = q_inj[j] - o.q_per_p * o.p_max / kb
            fixed_p[j] += o.p_max / kb
            fixed_q[j] += o.q_per_p * o.p_max / kb
            continue
        v = cp.Variable()
        variables[o.id] = v
        lo, hi = o.p_min / kb, o.p_max / kb
        if o.kind == "generator":
            arg = v
            p_inj[j] = p_inj[j] + v
        else:  # demand response: consumption v, curtailment p_max − v
            arg = hi - v
            p_inj[j] = p_inj[j] - v
            q_inj[j] = q_inj[j] - o.q_per_p * v
            fixed_p[j] += hi
            fixed_q[j] += o.q_per_p * hi
        if o.pwl:
            pts = o.pwl
            pieces = [c0 + (c1 - c0) / (p1 - p0) * (arg - p0) for (p0, c0), (p1, c1) in zip(pts[:-1], pts[1:])]
            cost = cost + (cp.maximum(*pieces) if len(pieces) > 1 else pieces[0])
        else:
            cost = cost + o.c[1] * arg + o.c[2] * cp.square(arg)
        variables[o.id + "#bounds"] = [v >= lo, v <= hi]
    cons = [c for k, val in variables.items() if k.endswith("#bounds") for c in val]
    sp, sm = cp.Variable(nonneg=True), cp.Variable(nonneg=True)
    cost = cost + lmp * sp - min(export, lmp) * sm
    p_inj[net.root] = p_inj[net.root] + sp - sm
    edges = [i for i in range(n) if net.parent[i] >= 0]
    P = {e: cp.Variable() for e in edges}
    balance = {}
    branch = formulation != "dc"
    if branch:
        Q = {e: cp.Variable() for e in edges}
        w = {e: cp.Variable() for e in edges}
        q_inj[net.root] = q_inj[net.root] + cp.Variable()
        ell = {e: cp.Variable(nonneg=True) for e in edges} if formulation == "socp" else {}
        w0 = v_source ** 2
        wv = lambda i: w0 if i == net.root else w[i]  # noqa: E731
        # Loss base point: the flows of the fixed demand alone.
        base_p, base_q = fixed_p.copy(), fixed_q.copy()
        for i in reversed(order):
            if net.parent[i] >= 0:
                base_p[net.parent[i]] += base_p[i]
                base_q[net.parent[i]] += base_q[i]
    for j in range(n):
        flow_p = sum(-P[c] for c in ch[j])
        if net.parent[j] >= 0:
            if formulation == "dc":
                flow_p = flow_p + P[j]
            elif formulation == "lindistflow":
                loss = net.r[j] * (2 * base_p[j] * P[j] + 2 * base_q[j] * Q[j] - base_p[j] ** 2 - base_q[j] ** 2) if losses else 0
                flow_p = flow_p + P[j] - loss
            else:
                flow_p = flow_p + P[j] - net.r[j] * ell[j]
        balance[j] = p_inj[j] + flow_p == 0
        cons.append(balance[j])
        if branch:
            flow_q = sum(-Q[c] for c in ch[j])
            if net.parent[j] >= 0:
                if formulation == "lindistflow":
                    lq = net.x[j] * (2 * base_p[j] * P[j] + 2 * base_q[j] * Q[j] - base_p[j] ** 2 - base_q[j] ** 2) if losses else 0
                    flow_q = flow_q + Q[j] - lq
                else:
                    flow_q = flow_q + Q[j] - net.x[j] * ell[j]
            cons.append(q_inj[j] + flow_q == 0)
    for e in edges:
        lim = net.limit_kw[e] / kb
        if formulation == "dc":
            if np.isfinite(lim):
                cons += [P[e] <= lim, P[e] >= -lim]
            continue
        i = net.parent[e]
        if e in net.reg:
            v_lo, v_hi, t_min, t_max = net.reg[e]
            w_sec = cp.Variable()
            cons += [w_sec <= t_max ** 2 * wv(i), w_sec >= t_min ** 2 * wv(i), w[e] <= v_hi ** 2, w[e] >= v_lo ** 2]
        else:
            w_sec = net.tap[e] ** 2 * wv(i)
        drop = 2 * (net.r[e] * P[e] + net.x[e] * Q[e])
        if formulation == "socp":
            cons.append(w[e] == w_sec - drop + (net.r[e] ** 2 + net.x[e] ** 2) * ell[e])
            cons.append(cp.quad_over_lin(cp.hstack([P[e], Q[e]]), w_sec) <= ell[e])
        else:
            cons.append(w[e] == w_sec - drop)
        if np.isfinite(lim):
            cons.append(cp.norm(cp.hstack([P[e], Q[e]])) <= lim)
        if net.buses[e] not in exempt:
            cons += [w[e] <= v_max ** 2, w[e] >= v_min ** 2]
    prob = cp.Problem(cp.Minimize(cost), cons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # an inaccurate first try is retried below
        prob.solve(solver=cp.CLARABEL, **CLARABEL_OPTS)
    if prob.status == "optimal_inaccurate":
        prob.solve(solver=cp.CLARABEL, **CLARABEL_RETRY)
    out = {"status": prob.status}
    if prob.status not in ("optimal", "optimal_inaccurate"):
        return out
    out["dlmp"] = {net.buses[j]: SIGN * balance[j].dual_value for j in range(n)}
    inj = {}
    for o in offers:
        if o.kind == "load":
            inj[o.id] = -o.p_max
        elif o.kind == "generator":
            inj[o.id] = float(variables[o.id].value) * kb
        else:
            inj[o.id] = -float(variables[o.id].value) * kb
    out["injection_kw"] = inj
    out["objective"] = prob.value
    if branch:
        out["v_pu"] = {net.buses[e]: float(np.sqrt(max(w[e].value, 0.0))) for e in edges}
        out["voltages_unique"] = formulation == "socp" or not net.reg
    if formulation == "socp":
        gaps = {}
        for e in edges:
            i = net.parent[e]
            wi = v_source ** 2 if i == net.root else float(w[i].value)
            # Regulated edges: the ratio is free; recover the secondary voltage from the drop equation.
            l = float(ell[e].value)
            pq2 = float(P[e].value) ** 2 + float(Q[e].value) ** 2
            w_sec = float(w[e].value) + 2 * (net.r[e] * float(P[e].value) + net.x[e] * float(Q[e].value)) - (net.r[e] ** 2 + net.x[e] ** 2) * l
            ws = w_sec if e in net.reg else net.tap[e] ** 2 * wi
            gaps[net.buses[e]] = max(l - pq2 / ws, 0.0) / max(l, 1e-3)
        out["gaps"] = gaps
    return out


# ----------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------
def ieee37_case() -> tuple[str, list[Offer], list[str], dict]:
    offers = []
    for bus, (kw, kvar) in IEEE37_LOADS.items():
        if bus in ("738", "711", "722", "728"):
            offers.append(Offer(f"dr{bus}", bus, "dr", 0.6 * kw, kw, (0.0, 70.0, 900.0), q_per_p=kvar / kw))
        else:
            offers.append(Offer(f"c{bus}", bus, "load", kw, kw, q_per_p=kvar / kw))
    offers += [
        Offer("g736", "736", "generator", 0.0, 250.0, (0.0, 35.0, 200.0)),
        Offer("g741", "741", "generator", 0.0, 150.0, (0.0, 45.0, 300.0)),
        Offer("g725", "725", "generator", 0.0, 200.0, pwl=[(0.0, 0.0), (0.1, 2.5), (0.2, 7.0)]),
        Offer("pv724", "724", "generator", 0.0, 80.0, (0.0, 3.0, 20.0)),
    ]
    args = ["--lmp", "48", "--v-exempt", "799", "--limits", "LIMITS"]
    limits = [["sourcebus", "799", 3500], ["702", "703", 900], ["709", "708", 600]]
    return "ieee37", offers, args, {"limits": limits, "lmp": 48.0, "exempt": ("799",)}


def ieee34_case() -> tuple[str, list[Offer], list[str], dict]:
    offers = [Offer(f"c{b}", b, "load", kw, kw, q_per_p=kvar / kw) for b, (kw, kvar) in IEEE34_LOADS.items() if b != "890"]
    offers += [
        Offer("g848", "848", "generator", 0.0, 400.0, (0.0, 30.0, 60.0)),
        Offer("g830", "830", "generator", 0.0, 300.0, (0.0, 45.0, 150.0)),
        Offer("dr890", "890", "dr", 200.0, 450.0, (0.0, 60.0, 300.0), q_per_p=0.5),
    ]
    args = ["--lmp", "40", "--v-min", "0.9", "--v-max", "1.1", "--limits", "LIMITS"]
    limits = [["800", "802", 1400], ["832", "858", 900]]
    return "ieee34", offers, args, {"limits": limits, "lmp": 40.0, "v_min": 0.9, "v_max": 1.1}


def random_tree_case(n: int, seed: int) -> tuple[list[dict], list[Offer]]:
    """A feeder-like random tree (each bus hangs off one of the later half of the
    buses before it), 2 MW of demand, generators, DR, some limited lines."""
    rng = np.random.default_rng(seed)
    parent = [-1] + [int(rng.integers(i // 2, i)) for i in range(1, n)]
    per_bus = 2000.0 / (n - 1)
    offers, demand = [], np.zeros(n)
    for i in range(1, n):
        kw = per_bus * rng.uniform(0.5, 1.5)
        q = rng.uniform(0.2, 0.5)
        demand[i] = kw
        if rng.random() < 0.2:
            offers.append(Offer(f"dr{i}", f"b{i}", "dr", kw * rng.uniform(0.4, 0.8), kw, (0.0, rng.uniform(40, 120), rng.uniform(100, 2000)), q_per_p=q))
        else:
            offers.append(Offer(f"l{i}", f"b{i}", "load", kw, kw, q_per_p=q))
        u = rng.random()
        if u < 0.1:
            cap = per_bus * rng.uniform(2, 6) / 1000.0
            mid, c_mid = cap * rng.uniform(0.3, 0.7), rng.uniform(10, 40)
            offers.append(Offer(f"pwl{i}", f"b{i}", "generator", 0.0, cap * 1000.0,
                                pwl=[(0.0, 0.0), (mid, c_mid * mid), (cap, c_mid * mid + rng.uniform(45, 90) * (cap - mid))]))
        elif u < 0.25:
            offers.append(Offer(f"g{i}", f"b{i}", "generator", 0.0, per_bus * rng.uniform(2, 6), (0.0, rng.uniform(10, 60), rng.uniform(50, 1000))))
    below = demand.copy()
    for i in range(n - 1, 0, -1):
        below[parent[i]] += below[i]
    rows = []
    for i in range(1, n):
        r = rng.uniform(3e-4, 1.2e-3)
        lim = "inf"
        if rng.random() < 0.25 and below[i] > 0:
            lim = below[i] * rng.uniform(0.6, 0.95)
            offers.append(Offer(f"relief{i}", f"b{i}", "generator", 0.0, 1.5 * below[i], (0.0, rng.uniform(35, 80), 200.0)))
        rows.append({"from_bus": f"b{parent[i]}", "to_bus": f"b{i}", "limit_kw": lim, "r_pu": r, "x_pu": r * rng.uniform(1, 2)})
    return rows, offers


def close(a: float, b: float, tol: float = REL_TOL) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def compare(ours: dict, theirs: dict, offers: list[Offer], label: str) -> None:
    assert ours["report"]["status"] == "optimal", f"{label}: ours {ours['report']}"
    assert theirs["status"] == "optimal", f"{label}: CVXPY {theirs['status']}"
    worst = max(abs(float(ours["buses"][b]["dlmp"]) - p) / max(1.0, abs(p)) for b, p in theirs["dlmp"].items())
    for b, p in theirs["dlmp"].items():
        mine = float(ours["buses"][b]["dlmp"])
        assert close(mine, p), f"{label} bus {b}: DLMP {mine} vs CVXPY {p} (worst relative difference {worst:.1e})"
    for o in offers:
        # Quantities relative to the offer's size.
        mine, other = float(ours["dispatch"][o.id]["p_kw"]), theirs["injection_kw"][o.id]
        assert abs(mine - other) <= REL_TOL * max(1.0, o.p_max), f"{label} offer {o.id}: {mine} kW vs CVXPY {other} kW"
    # LinDistFlow's losses do not depend on voltage, so a regulator may sit
    # anywhere in its band at the same cost: voltages are not unique there.
    for b, v in (theirs.get("v_pu", {}) if theirs.get("voltages_unique", True) else {}).items():
        mine = float(ours["buses"][b]["v_pu"])
        assert abs(mine - v) <= REL_TOL, f"{label} bus {b}: voltage {mine} vs CVXPY {v} pu"
    # Our decomposition sums to our DLMP.
    for b, row in ours["buses"].items():
        total = sum(float(row[k]) for k in ("energy", "congestion", "voltage", "loss"))
        assert abs(total - float(row["dlmp"])) <= 1e-6 * max(1.0, abs(total)), f"{label} bus {b}: components sum to {total}, DLMP {row['dlmp']}"


def ieee_run(tmp: Path, case, formulation: str):
    feeder, offers, args, meta = case
    write_csv(tmp / "limits.csv", ["from_bus", "to_bus", "limit_kw"], meta["limits"])
    args = [str(tmp / "limits.csv") if a == "LIMITS" else a for a in args]
    ours = run_ours(tmp, feeder, offers, formulation, args)
    net = net_from_edges(ours["network"])
    theirs = solve_cvxpy(net, offers, base_formulation(formulation), meta["lmp"], v_min=meta.get("v_min", 0.95), v_max=meta.get("v_max", 1.05),
                         exempt=meta.get("exempt", ()))
    return ours, theirs, offers


@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_ieee37(tmp_path: Path, formulation: str) -> None:
    ours, theirs, offers = ieee_run(tmp_path, ieee37_case(), formulation)
    compare(ours, theirs, offers, f"ieee37 {formulation}")
    assert ours["report"]["congested_lines"] >= 1, "the IEEE 37 case should be congested"
    if base_formulation(formulation) == "socp":
        assert ours["report"]["socp_exact"] is True
        assert max(theirs["gaps"].values()) < 1e-4


@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_ieee34(tmp_path: Path, formulation: str) -> None:
    ours, theirs, offers = ieee_run(tmp_path, ieee34_case(), formulation)
    compare(ours, theirs, offers, f"ieee34 {formulation}")


@pytest.mark.parametrize("formulation", FORMULATIONS)
@pytest.mark.parametrize("n,seed", [(30, 1), (60, 2), (120, 3), (200, 4)])
def test_random_trees(tmp_path: Path, formulation: str, n: int, seed: int) -> None:
    rows, offers = random_tree_case(n, seed)
    write_csv(tmp_path / "tree.csv", ["from_bus", "to_bus", "limit_kw", "r_pu", "x_pu"],
              [[r["from_bus"], r["to_bus"], r["limit_kw"], r["r_pu"], r["x_pu"]] for r in rows])
    lmp = 35.0 + seed
    ours = run_ours(tmp_path, str(tmp_path / "tree.csv"), offers, formulation, ["--lmp", str(lmp), "--v-min", "0.9", "--v-max", "1.1"])
    theirs = solve_cvxpy(net_from_edges(rows), offers, base_formulation(formulation), lmp, v_min=0.9, v_max=1.1)
    compare(ours, theirs, offers, f"tree n={n} seed={seed} {formulation}")


def test_socp_exactness_report_agrees_with_cvxpy_on_an_inexact_case(tmp_path: Path) -> None:
    """A negative transmission price with exports paid the same: burning power
    in phantom losses lowers the cost, and the relaxation does exactly that."""
    feeder, offers, _, meta = ieee37_case()
    args = ["--lmp", "-20", "--export-price", "-20", "--v-min", "0.9", "--v-max", "1.1", "--no-ratings", "--v-exempt", "799"]
    ours = run_ours(tmp_path, feeder, offers, "socp", args)
    assert ours["report"]["status"] == "optimal", ours["report"]
    assert ours["report"]["socp_exact"] is False, ours["report"]
    net = net_from_edges(ours["network"])
    net.limit_kw[:] = np.inf
    theirs = solve_cvxpy(net, offers, "socp", -20.0, export=-20.0, v_min=0.9, v_max=1.1, exempt=("799",))
    assert theirs["status"] == "optimal"
    assert max(theirs["gaps"].values()) > 1e-2, "CVXPY's relaxation should be inexact too"
    phantom = sum(float(r["phantom_loss_kw"]) for r in ours["lines"])
    assert phantom > 1.0, f"{phantom} kW of phantom losses"


def test_ptdf_form_matches_the_branch_flow_form(tmp_path: Path) -> None:
    feeder, offers, args, meta = ieee37_case()
    write_csv(tmp_path / "limits.csv", ["from_bus", "to_bus", "limit_kw"], meta["limits"])
    args = [str(tmp_path / "limits.csv") if a == "LIMITS" else a for a in args]
    branch = run_ours(tmp_path / "branch", feeder, offers, "dc", args)
    dense = run_ours(tmp_path / "ptdf", feeder, offers, "dc", args + ["--ptdf"])
    for b, row in branch["buses"].items():
        assert close(float(row["dlmp"]), float(dense["buses"][b]["dlmp"])), b
