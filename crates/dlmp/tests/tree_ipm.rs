//! Our interior point (`ConicSolver::TreeIpm`) against Clarabel, the reference,
//! on the same problems: every formulation, IEEE 37 under stress (congestion,
//! a binding voltage floor, regulators, piecewise-linear costs) and random
//! trees; prices, dispatch, voltages, the decomposition and the SOCP report.

use ogg_dlmp::testutil::{random_case, rel_diff};
use ogg_dlmp::*;

fn place(net: &DlmpNetwork, offers: &[Offer]) -> Vec<PlacedOffer> {
    offers
        .iter()
        .map(|o| PlacedOffer::place(net, o).unwrap())
        .collect()
}

/// Interval k of the re-solve tests: every load's demand moved by up to
/// ±1 %, the LMP by +0.2 % per interval.
fn next_interval(offers: &[Offer], opts: &OpfOptions, k: usize) -> (Vec<Offer>, OpfOptions) {
    let mut o = offers.to_vec();
    for offer in o.iter_mut() {
        if offer.kind == OfferKind::Load {
            offer.p_max_kw *= 1.0 + 0.01 * ((k * 3 % 7) as f64 - 3.0) / 3.0;
            offer.p_min_kw = offer.p_max_kw;
        }
    }
    let opts = OpfOptions {
        lmp_source: opts.lmp_source * (1.0 + 2e-3 * k as f64),
        ..opts.clone()
    };
    (o, opts)
}

/// The solver of the last interval updated in place with this problem (made
/// with `settings` at the first).
fn warm_start<'a>(
    warm: &'a mut Option<ogg_dlmp::opf::ipm::TreeIpm>,
    problem: &ogg_dlmp::opf::builder::Problem,
    settings: ogg_dlmp::opf::ipm::IpmSettings,
) -> &'a mut ogg_dlmp::opf::ipm::TreeIpm {
    match warm {
        Some(ipm) => {
            ipm.update(problem);
            ipm
        }
        None => warm.insert(ogg_dlmp::opf::ipm::TreeIpm::new(problem, settings).unwrap()),
    }
}

fn with(opts: &OpfOptions, f: Formulation, solver: ConicSolver) -> OpfOptions {
    OpfOptions {
        formulation: f,
        conic_solver: solver,
        ..opts.clone()
    }
}

/// Solves with both and compares; returns the tree-ipm solution. `price_tol`:
/// relative tolerance of the prices (and the decomposition, relative to the
/// price level).
fn compare(
    label: &str,
    net: &DlmpNetwork,
    placed: &[PlacedOffer],
    opts: &OpfOptions,
    f: Formulation,
    price_tol: f64,
) -> DlmpSolution {
    let ours = solve(net, placed, &with(opts, f, ConicSolver::TreeIpm)).unwrap();
    let reference = solve(net, placed, &with(opts, f, ConicSolver::Clarabel)).unwrap();
    assert_eq!(reference.solver, "clarabel");
    assert_eq!(
        ours.solver, "tree-ipm",
        "{label} {f}: fell back to Clarabel ({:?})",
        ours.status
    );
    assert_eq!(ours.status, reference.status, "{label} {f}");
    if !reference.is_optimal() {
        return ours;
    }
    let level = 1.0 + reference.dlmp.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let abs_diff = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    };
    // Dispatch relative to each offer's size, as tests/python does against
    // CVXPY: a demand-response provider whose marginal cost equals its price
    // at a bound moves at almost no cost, so the two interior points may place
    // it ~1e-5 of its size apart, on either side.
    let dispatch = placed
        .iter()
        .enumerate()
        .map(|(k, o)| {
            let size =
                (o.hi.abs().max(o.lo.abs()).max(o.fixed_demand.abs()) * net.s_base_kva).max(1.0);
            (ours.injection_kw[k] - reference.injection_kw[k]).abs() / size
        })
        .fold(0.0, f64::max);
    let checks = [
        ("dlmp", rel_diff(&ours.dlmp, &reference.dlmp), price_tol),
        (
            "q price",
            abs_diff(&ours.q_price, &reference.q_price) / level,
            price_tol,
        ),
        (
            "congestion part",
            abs_diff(
                &ours.decomposition.congestion,
                &reference.decomposition.congestion,
            ) / level,
            price_tol,
        ),
        (
            "voltage part",
            abs_diff(
                &ours.decomposition.voltage,
                &reference.decomposition.voltage,
            ) / level,
            price_tol,
        ),
        (
            "loss part",
            abs_diff(&ours.decomposition.loss, &reference.decomposition.loss) / level,
            price_tol,
        ),
        ("dispatch", dispatch, 10.0 * price_tol),
        // With floating regulator ratios LinDistFlow's voltages are not unique
        // (nothing in its cost depends on them): any ratio in the band is optimal.
        (
            "voltage",
            if opts.regulators && f == Formulation::LinDistFlow {
                0.0
            } else {
                rel_diff(&ours.voltage_pu, &reference.voltage_pu)
            },
            1e-6,
        ),
        (
            "objective",
            rel_diff(&[ours.objective], &[reference.objective]),
            1e-7,
        ),
    ];
    for (what, d, tol) in checks {
        assert!(
            d < tol,
            "{label} {f}: {what} differs by {d:e} (iterations {} vs {})",
            ours.iterations,
            reference.iterations
        );
    }
    assert!(
        ours.decomposition.residual(&ours.dlmp) < 1e-6,
        "{label} {f}"
    );
    if f == Formulation::Socp {
        assert_eq!(
            ours.relaxation_exact(1e-4),
            reference.relaxation_exact(1e-4),
            "{label}"
        );
    }
    ours
}

fn random_opts(seed: u64) -> OpfOptions {
    OpfOptions {
        lmp_source: 35.0 + seed as f64,
        v_min_pu: 0.9,
        v_max_pu: 1.1,
        tolerance: 1e-10,
        ..Default::default()
    }
}

/// Prices within 1e-5 of Clarabel's for the lossless model and LinDistFlow;
/// 1e-4 for the SOCP, where Clarabel's own prices are off by up to 2e-5
/// (see `socp_prices_are_the_derivative_of_cost_where_clarabel_drifts`).
fn price_tol(f: Formulation) -> f64 {
    if f == Formulation::Socp {
        1e-4
    } else {
        1e-5
    }
}

#[test]
fn tree_ipm_matches_clarabel_on_random_trees() {
    for n in [2, 3, 20, 200, 1000] {
        for seed in 0..3 {
            let (net, offers) = random_case(n, seed, 0.25);
            let placed = place(&net, &offers);
            for f in Formulation::ALL {
                let s = compare(
                    &format!("n {n} seed {seed}"),
                    &net,
                    &placed,
                    &random_opts(seed),
                    f,
                    price_tol(f),
                );
                assert!(s.is_optimal());
            }
        }
    }
}

/// IEEE 37 as tests/python's case: limits on the substation, 702–703 and
/// 709–708; DR, quadratic, piecewise-linear and PV offers.
fn stressed_ieee37() -> (DlmpNetwork, Vec<Offer>) {
    let (mut net, circuit, _grid) = DlmpNetwork::from_feeder("ieee37").unwrap();
    net.set_limit("sourcebus", "799", 3500.0).unwrap();
    net.set_limit("702", "703", 900.0).unwrap();
    net.set_limit("709", "708", 600.0).unwrap();
    let mut offers = Vec::new();
    for l in ogg_market::feeder::bus_loads(&circuit) {
        let q: f64 = circuit
            .loads
            .iter()
            .filter(|x| l.loads.contains(&x.name))
            .map(|x| x.kvar)
            .sum();
        if ["738", "711", "722", "728"].contains(&l.bus.as_str()) {
            offers.push(Offer::demand_response(
                &format!("dr{}", l.bus),
                &l.bus,
                0.6 * l.kw,
                l.kw,
                q / l.kw,
                CostCurve::quadratic(70.0, 900.0),
            ));
        } else {
            offers.push(Offer::load(&format!("c{}", l.bus), &l.bus, l.kw, q / l.kw));
        }
    }
    offers.push(Offer::generator(
        "g736",
        "736",
        0.0,
        250.0,
        CostCurve::quadratic(35.0, 200.0),
    ));
    offers.push(Offer::generator(
        "g741",
        "741",
        0.0,
        150.0,
        CostCurve::quadratic(45.0, 300.0),
    ));
    offers.push(Offer::generator(
        "g725",
        "725",
        0.0,
        200.0,
        CostCurve::PiecewiseLinear(vec![(0.0, 0.0), (0.1, 2.5), (0.2, 7.0)]),
    ));
    offers.push(Offer::generator(
        "pv724",
        "724",
        0.0,
        80.0,
        CostCurve::quadratic(3.0, 20.0),
    ));
    (net, offers)
}

/// IEEE 37 (`stressed_ieee37`) at three LMPs, with floating and fixed regulator ratios.
#[test]
fn tree_ipm_matches_clarabel_on_ieee37_under_stress() {
    let (net, offers) = stressed_ieee37();
    let placed = place(&net, &offers);
    for lmp in [18.5, 48.0, 112.0] {
        for regulators in [true, false] {
            let opts = OpfOptions {
                lmp_source: lmp,
                v_exempt: vec!["799".into()],
                regulators,
                tolerance: 1e-10,
                ..Default::default()
            };
            for f in Formulation::ALL {
                let s = compare(
                    &format!("IEEE 37 at {lmp} $/MWh, regulators {regulators}"),
                    &net,
                    &placed,
                    &opts,
                    f,
                    price_tol(f),
                );
                if lmp == 48.0 {
                    assert!(
                        !s.congested_edges(&net, 1e-6).is_empty(),
                        "{f}: the case should congest a line"
                    );
                }
            }
        }
    }
}

/// A 200-bus SOCP where Clarabel's price at bus b37 is 2e-5 (relative) off
/// the derivative of the optimal cost, which ours matches to 1e-7: central
/// differences of the cost in the demand at that bus (solved to a 1e-12
/// relative duality gap).
#[test]
fn socp_prices_are_the_derivative_of_cost_where_clarabel_drifts() {
    let (net, offers) = random_case(200, 1, 0.25);
    let opts = with(&random_opts(1), Formulation::Socp, ConicSolver::TreeIpm);
    let load = offers
        .iter()
        .position(|o| o.bus == "b37" && o.kind == OfferKind::Load)
        .expect("a load at b37");
    // The central difference multiplies the costs' errors by 5·10⁴: at the
    // prices' 1e-10 gap, rounding alone (another factorisation order) moved
    // it by 2e-7; the costs are solved at 1e-12.
    let cost_opts = OpfOptions {
        tolerance: 1e-12,
        ..opts.clone()
    };
    let cost = |delta_kw: f64| {
        // Active demand only: the reactive demand stays as it is.
        let mut o = offers.clone();
        let (p, q) = (o[load].p_max_kw, o[load].p_max_kw * o[load].q_per_p);
        o[load].p_max_kw = p + delta_kw;
        o[load].p_min_kw = p + delta_kw;
        o[load].q_per_p = q / (p + delta_kw);
        let s = solve(&net, &place(&net, &o), &cost_opts).unwrap();
        assert_eq!(s.solver, "tree-ipm");
        s.objective
    };
    let delta_kw = 0.01;
    let derivative = (cost(delta_kw) - cost(-delta_kw)) / (2.0 * delta_kw) * 1000.0;
    let ours = solve(&net, &place(&net, &offers), &opts).unwrap();
    let clarabel = solve(
        &net,
        &place(&net, &offers),
        &with(&opts, Formulation::Socp, ConicSolver::Clarabel),
    )
    .unwrap();
    let j = net.bus_index("b37").unwrap();
    assert!(
        (ours.dlmp[j] - derivative).abs() < 1e-7 * derivative,
        "ours {} vs dC/dD {derivative}",
        ours.dlmp[j]
    );
    assert!(
        (clarabel.dlmp[j] - derivative).abs() > 1e-5 * derivative,
        "Clarabel {} vs dC/dD {derivative}: no longer drifts (tighten price_tol)",
        clarabel.dlmp[j]
    );
}

/// In place: the same solver over intervals with new prices and demand gives
/// the fresh solves' answers, without rebuilding.
#[test]
fn tree_ipm_updated_in_place_matches_fresh_solves() {
    let (net, offers) = random_case(120, 7, 0.25);
    let mut solver = OpfSolver::new();
    for f in Formulation::ALL {
        for k in 0..4 {
            let mut o = offers.clone();
            for offer in o.iter_mut() {
                offer.p_max_kw *= 1.0 + 0.01 * (k as f64 - 1.5);
                if offer.kind == OfferKind::Load {
                    offer.p_min_kw = offer.p_max_kw;
                }
            }
            let placed = place(&net, &o);
            let opts = with(&random_opts(k), f, ConicSolver::TreeIpm);
            let a = solver.solve(&net, &placed, &opts).unwrap();
            assert_eq!(a.rebuilt, k == 0, "{f} interval {k}");
            assert_eq!(a.solver, "tree-ipm");
            let b = solve(&net, &placed, &opts).unwrap();
            assert_eq!(a.solver, b.solver);
            for j in 0..net.len() {
                // A re-solve starts from the last solution: the same answer within the tolerance.
                assert!(
                    (a.dlmp[j] - b.dlmp[j]).abs() <= 1e-6 * (1.0 + b.dlmp[j].abs()),
                    "{f} interval {k} bus {j}: {} vs {}",
                    a.dlmp[j],
                    b.dlmp[j]
                );
            }
        }
    }
}

/// An infeasible interval: our solver stops within a few iterations once its
/// primal residual stalls, and Clarabel's homogeneous embedding decides; the
/// outcome names the line and the agents.
#[test]
fn tree_ipm_reports_infeasible_intervals() {
    let net = DlmpNetwork::from_edges(
        "a",
        &[
            ogg_dlmp::network::ImpedanceEdge {
                name: "a-b".into(),
                from: "a".into(),
                to: "b".into(),
                limit_kw: 10.0,
                r_pu: 0.001,
                x_pu: 0.001,
                tap: 1.0,
            },
            ogg_dlmp::network::ImpedanceEdge {
                name: "b-c".into(),
                from: "b".into(),
                to: "c".into(),
                limit_kw: f64::INFINITY,
                r_pu: 0.001,
                x_pu: 0.001,
                tap: 1.0,
            },
        ],
        1000.0,
    )
    .unwrap();
    let offers = place(
        &net,
        &[
            Offer::load("alice", "c", 50.0, 0.1),
            Offer::load("bob", "b", 5.0, 0.1),
            Offer::generator("gen", "c", 0.0, 20.0, CostCurve::linear(10.0)),
        ],
    );
    for f in Formulation::ALL {
        let s = solve(
            &net,
            &offers,
            &with(&OpfOptions::default(), f, ConicSolver::TreeIpm),
        )
        .unwrap();
        assert_eq!(s.solver, "clarabel (tree-ipm fallback)", "{f}");
        assert!(s.iterations < 40, "{f}: {} iterations", s.iterations);
        match &s.status {
            OpfStatus::Infeasible { reason, agents } => {
                assert!(
                    reason.contains("a-b") && reason.contains("alice"),
                    "{f}: {reason}"
                );
                assert_eq!(agents[0], "alice", "{f}");
            }
            other => panic!("{f}: expected infeasible, got {other:?}"),
        }
    }
}

/// Interval to interval (demand ±1 %, new LMP): the re-solve is Newton on
/// the last active set (LinDistFlow with a congested line, the lossless
/// model, the SOCP with its relaxation cones held tight) and its prices and
/// dispatch are the interior point's from a cold start on the same data, to
/// the interior point's accuracy.
#[test]
fn active_set_re_solves_match_cold_solves() {
    use ogg_dlmp::opf::ipm::{IpmSettings, IpmStatus, TreeIpm};
    let (net, offers) = random_case(60, 3, 0.25);
    for f in [Formulation::LinDistFlow, Formulation::Dc, Formulation::Socp] {
        let opts = with(&random_opts(1), f, ConicSolver::TreeIpm);
        let first = place(&net, &offers);
        let problem = ogg_dlmp::opf::problem(&net, &first, &opts);
        let mut warm = TreeIpm::new(&problem, IpmSettings::with_tolerance(1e-10)).unwrap();
        assert_eq!(warm.solve(), IpmStatus::Solved);
        let mut used = 0;
        for k in 1..6 {
            let mut o = offers.clone();
            for offer in o.iter_mut() {
                if offer.kind == OfferKind::Load {
                    offer.p_max_kw *= 1.0 + 0.01 * ((k * 7 % 5) as f64 - 2.0) / 2.0;
                    offer.p_min_kw = offer.p_max_kw;
                }
            }
            let opts = OpfOptions {
                lmp_source: opts.lmp_source * (1.0 + 1e-3 * k as f64),
                ..opts.clone()
            };
            let problem = ogg_dlmp::opf::problem(&net, &place(&net, &o), &opts);
            warm.update(&problem);
            assert_eq!(warm.solve(), IpmStatus::Solved, "{f} interval {k}");
            used += usize::from(warm.active_set_used);
            let mut cold = TreeIpm::new(&problem, IpmSettings::with_tolerance(1e-10)).unwrap();
            assert_eq!(cold.solve(), IpmStatus::Solved);
            // Balance duals (the prices) and the primal point.
            let n_bal = net.len();
            let d = rel_diff(&warm.z()[..n_bal], &cold.z()[..n_bal]);
            assert!(d < 1e-6, "{f} interval {k}: prices differ by {d:e}");
            let dx = rel_diff(warm.x(), cold.x());
            assert!(dx < 1e-5, "{f} interval {k}: dispatch differs by {dx:e}");
        }
        assert!(
            used >= 3,
            "{f}: the active set served {used} of 5 re-solves"
        );
    }
}

/// Re-solves whose active set changes (a 200-bus feeder, demand ±1 %, LMP
/// +0.2 % per interval): the changes are taken on the last factor through
/// its border (no refactorisation per change), and the prices and dispatch
/// are the interior point's run to its tolerance on the same data.
#[test]
fn bordered_set_changes_match_the_interior_point() {
    use ogg_dlmp::opf::ipm::{IpmSettings, IpmStatus, TreeIpm};
    let (net, offers) = random_case(200, 11, 0.25);
    let plain = IpmSettings {
        active_set: false,
        crossover_below_gap: 0.0,
        central_start_gap: 0.0,
        ..IpmSettings::with_tolerance(1e-10)
    };
    for f in [Formulation::LinDistFlow, Formulation::Dc, Formulation::Socp] {
        let opts = with(&random_opts(2), f, ConicSolver::TreeIpm);
        let mut warm: Option<TreeIpm> = None;
        let mut used = 0;
        for k in 0..6 {
            let (o, opts) = next_interval(&offers, &opts, k);
            let problem = ogg_dlmp::opf::problem(&net, &place(&net, &o), &opts);
            let ipm = warm_start(&mut warm, &problem, IpmSettings::with_tolerance(1e-10));
            assert_eq!(ipm.solve(), IpmStatus::Solved, "{f} interval {k}");
            used += usize::from(ipm.active_set_used);
            let mut reference = TreeIpm::new(&problem, plain).unwrap();
            assert_eq!(reference.solve(), IpmStatus::Solved);
            let n_bal = net.len();
            let d = rel_diff(&ipm.z()[..n_bal], &reference.z()[..n_bal]);
            assert!(d < 1e-6, "{f} interval {k}: prices differ by {d:e}");
            let dx = rel_diff(ipm.x(), reference.x());
            assert!(dx < 1e-5, "{f} interval {k}: dispatch differs by {dx:e}");
        }
        let (factorisations, bordered) = warm.as_ref().unwrap().active_set_counts();
        assert_eq!(used, 5, "{f}: the active set served {used} of 5 re-solves");
        assert!(bordered >= 1, "{f}: no set change was bordered");
        // Without the border every change and every re-solve's start costs one.
        assert!(
            factorisations < 5 + bordered,
            "{f}: {factorisations} factorisations for 5 re-solves and {bordered} bordered changes"
        );
    }
}

/// The crossover (Newton on the set the interior point's iterate identifies,
/// tried on re-solves once the relative gap is below 1e-5) ends in the same
/// prices and dispatch as the interior point run to its own tolerance from
/// a cold start (re-solves may also start from the last solve's central iterate).
#[test]
fn crossover_matches_the_interior_point_run_to_the_end() {
    use ogg_dlmp::opf::ipm::{IpmSettings, IpmStatus, TreeIpm};
    let (net, offers) = random_case(200, 11, 0.25);
    let plain = IpmSettings {
        active_set: false,
        crossover_below_gap: 0.0,
        central_start_gap: 0.0,
        ..IpmSettings::with_tolerance(1e-10)
    };
    // The re-solves by the active set alone end before any crossover here
    // (bordered and chord steps take their set changes): the crossover is
    // tested without them.
    let crossover_only = IpmSettings {
        active_set: false,
        ..IpmSettings::with_tolerance(1e-10)
    };
    for f in [Formulation::LinDistFlow, Formulation::Dc] {
        let opts = with(&random_opts(2), f, ConicSolver::TreeIpm);
        let mut with_crossover: Option<TreeIpm> = None;
        let mut crossovers = 0;
        for k in 0..6 {
            let (o, opts) = next_interval(&offers, &opts, k);
            let problem = ogg_dlmp::opf::problem(&net, &place(&net, &o), &opts);
            let ipm = warm_start(&mut with_crossover, &problem, crossover_only);
            assert_eq!(ipm.solve(), IpmStatus::Solved, "{f} interval {k}");
            crossovers += usize::from(ipm.crossover_used);
            let mut reference = TreeIpm::new(&problem, plain).unwrap();
            assert_eq!(reference.solve(), IpmStatus::Solved);
            assert!(!reference.crossover_used);
            let n_bal = net.len();
            let d = rel_diff(&ipm.z()[..n_bal], &reference.z()[..n_bal]);
            assert!(d < 1e-6, "{f} interval {k}: prices differ by {d:e}");
            let dx = rel_diff(ipm.x(), reference.x());
            assert!(dx < 1e-5, "{f} interval {k}: dispatch differs by {dx:e}");
        }
        // (The lossless model's re-solves here all end in the active-set
        // re-solve, before any interior point.)
        if f == Formulation::LinDistFlow {
            assert!(crossovers >= 1, "{f}: no solve ended with a crossover");
        }
    }
}

/// After a solved interval, an infeasible one: the active-set re-solve and
/// the interior point both fail to find a point, Clarabel decides, and the
/// outcome names the line and the agents; the next feasible interval is
/// solved by tree-ipm again.
#[test]
fn an_infeasible_interval_after_a_solved_one_is_reported() {
    let edge = |name: &str, from: &str, to: &str, limit_kw: f64| ogg_dlmp::network::ImpedanceEdge {
        name: name.into(),
        from: from.into(),
        to: to.into(),
        limit_kw,
        r_pu: 0.001,
        x_pu: 0.001,
        tap: 1.0,
    };
    let net = DlmpNetwork::from_edges(
        "a",
        &[
            edge("a-b", "a", "b", 10.0),
            edge("b-c", "b", "c", f64::INFINITY),
        ],
        1000.0,
    )
    .unwrap();
    let offers = |alice_kw: f64| {
        place(
            &net,
            &[
                Offer::load("alice", "c", alice_kw, 0.1),
                Offer::load("bob", "b", 5.0, 0.1),
                Offer::generator("gen", "c", 0.0, 20.0, CostCurve::linear(10.0)),
            ],
        )
    };
    for f in [Formulation::Dc, Formulation::LinDistFlow, Formulation::Socp] {
        let opts = with(&OpfOptions::default(), f, ConicSolver::TreeIpm);
        let mut solver = OpfSolver::new();
        let s = solver.solve(&net, &offers(8.0), &opts).unwrap();
        assert!(s.is_optimal(), "{f}: {:?}", s.status);
        let s = solver.solve(&net, &offers(50.0), &opts).unwrap();
        assert_eq!(s.solver, "clarabel (tree-ipm fallback)", "{f}");
        match &s.status {
            OpfStatus::Infeasible { reason, agents } => {
                assert!(
                    reason.contains("a-b") && reason.contains("alice"),
                    "{f}: {reason}"
                );
                assert_eq!(agents[0], "alice", "{f}");
            }
            other => panic!("{f}: expected infeasible, got {other:?}"),
        }
        let s = solver.solve(&net, &offers(9.0), &opts).unwrap();
        assert!(s.is_optimal(), "{f}: {:?}", s.status);
        assert_eq!(s.solver, "tree-ipm", "{f}");
    }
}

/// Where the SOCP relaxation is not exact (a negative LMP and export price
/// make burning power profitable: the cones are not tight), re-solves of
/// the same solver report it as a fresh solve does, with the same prices:
/// the active set holds only tight cones, and a set that is not a KKT point
/// hands the interval to the interior point.
#[test]
fn socp_re_solves_report_an_inexact_relaxation_as_fresh_solves() {
    use ogg_dlmp::opf::ipm::{IpmSettings, IpmStatus, TreeIpm};
    let (mut net, offers) = random_case(60, 5, 0.0);
    net.clear_limits();
    let opts = OpfOptions {
        formulation: Formulation::Socp,
        conic_solver: ConicSolver::TreeIpm,
        lmp_source: -20.0,
        export_price: -20.0,
        ..random_opts(0)
    };
    let mut solver = OpfSolver::new();
    let mut warm: Option<TreeIpm> = None;
    for k in 0..6 {
        let (o, opts) = next_interval(&offers, &opts, k);
        let placed = place(&net, &o);
        let re = solver.solve(&net, &placed, &opts).unwrap();
        let fresh = solve(&net, &placed, &opts).unwrap();
        assert!(re.is_optimal() && fresh.is_optimal(), "interval {k}");
        assert_eq!(
            re.relaxation_exact(opts.exactness_tol),
            Some(false),
            "interval {k}"
        );
        assert_eq!(
            fresh.relaxation_exact(opts.exactness_tol),
            Some(false),
            "interval {k}"
        );
        // 1e-5: the optimum is degenerate here (the cones not tight); the
        // interior point's re-solves differ from fresh solves by up to 1.2e-6.
        let d = rel_diff(&re.dlmp, &fresh.dlmp);
        assert!(d < 1e-5, "interval {k}: prices differ by {d:e}");
        let phantom = |s: &DlmpSolution| -> f64 {
            s.socp_phantom_loss_kw
                .iter()
                .filter(|v| v.is_finite())
                .sum()
        };
        let (a, b) = (phantom(&re), phantom(&fresh));
        assert!(
            (a - b).abs() < 1e-4 * (1.0 + b),
            "interval {k}: phantom losses {a} vs {b} kW"
        );
        // The interior point's own path on the same data: the same answer.
        let problem = ogg_dlmp::opf::problem(&net, &placed, &opts);
        let ipm = warm_start(&mut warm, &problem, IpmSettings::with_tolerance(1e-10));
        assert_eq!(ipm.solve(), IpmStatus::Solved, "interval {k}");
        let mut cold = TreeIpm::new(&problem, IpmSettings::with_tolerance(1e-10)).unwrap();
        assert_eq!(cold.solve(), IpmStatus::Solved);
        let n_bal = net.len();
        let d = rel_diff(&ipm.z()[..n_bal], &cold.z()[..n_bal]);
        assert!(d < 1e-5, "interval {k}: balance duals differ by {d:e}");
        assert!(
            !ipm.active_set_used,
            "interval {k}: the active set served an inexact relaxation"
        );
    }
}

/// IEEE 37 under stress, SOCP with fixed regulator ratios (with floating
/// ones `OpfSolver` keeps the SOCP's re-solves on the interior point: the
/// optimum is not unique there): interval to interval (demand ±1 %, LMP
/// +0.2 %) Newton on the last active set, the relaxation cones held tight,
/// ends at the interior point's answer from a cold start.
#[test]
fn socp_active_set_re_solves_on_ieee37_match_cold_solves() {
    use ogg_dlmp::opf::ipm::{IpmSettings, IpmStatus, TreeIpm};
    let (net, offers) = stressed_ieee37();
    let opts = OpfOptions {
        formulation: Formulation::Socp,
        lmp_source: 48.0,
        v_exempt: vec!["799".into()],
        regulators: false,
        tolerance: 1e-10,
        ..Default::default()
    };
    let mut warm: Option<TreeIpm> = None;
    let mut solver = OpfSolver::new();
    let mut used = 0;
    for k in 0..6 {
        let (o, opts) = next_interval(&offers, &opts, k);
        let placed = place(&net, &o);
        let problem = ogg_dlmp::opf::problem(&net, &placed, &opts);
        let ipm = warm_start(&mut warm, &problem, IpmSettings::with_tolerance(1e-10));
        assert_eq!(ipm.solve(), IpmStatus::Solved, "interval {k}");
        used += usize::from(ipm.active_set_used);
        let mut cold = TreeIpm::new(&problem, IpmSettings::with_tolerance(1e-10)).unwrap();
        assert_eq!(cold.solve(), IpmStatus::Solved);
        let n_bal = net.len();
        let d = rel_diff(&ipm.z()[..n_bal], &cold.z()[..n_bal]);
        assert!(d < 1e-6, "interval {k}: prices differ by {d:e}");
        let dx = rel_diff(ipm.x(), cold.x());
        assert!(
            dx < 1e-5,
            "interval {k}: the primal point differs by {dx:e}"
        );
        // And through `OpfSolver`'s re-solves: a fresh solve's prices, exact.
        let re = solver.solve(&net, &placed, &opts).unwrap();
        let fresh = solve(&net, &placed, &opts).unwrap();
        let d = rel_diff(&re.dlmp, &fresh.dlmp);
        assert!(d < 1e-6, "interval {k}: DLMPs differ by {d:e}");
        assert_eq!(
            re.relaxation_exact(opts.exactness_tol),
            Some(true),
            "interval {k}"
        );
    }
    assert!(used >= 4, "the active set served {used} of 5 re-solves");
}
