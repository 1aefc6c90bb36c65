//! The OPF against closed forms, finite differences, the dense PTDF form, and
//! its own KKT conditions (the DLMP decomposition), for every formulation.

use ogg_dlmp::network::ImpedanceEdge;
use ogg_dlmp::opf::ptdf::{ptdf_matrix, solve_ptdf};
use ogg_dlmp::testutil::random_case;
use ogg_dlmp::*;

fn edge(from: &str, to: &str, limit_kw: f64, r: f64, x: f64) -> ImpedanceEdge {
    ImpedanceEdge {
        name: format!("{from}-{to}"),
        from: from.into(),
        to: to.into(),
        limit_kw,
        r_pu: r,
        x_pu: x,
        tap: 1.0,
    }
}

fn place(net: &DlmpNetwork, offers: &[Offer]) -> Vec<PlacedOffer> {
    offers
        .iter()
        .map(|o| PlacedOffer::place(net, o).unwrap())
        .collect()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

/// Two buses, a 60 kW line, 100 kW of load behind it and a local generator
/// with c(P) = 50 P + 100 P² ($/h, MW): the generator makes up 40 kW at a
/// marginal cost of 50 + 200·0.04 = 58 $/MWh; the source stays at the LMP of
/// 30 $/MWh; the line's congestion dual is the difference, 28 $/MWh.
#[test]
fn two_bus_congested_line_separates_prices_by_the_congestion_dual() {
    let net = DlmpNetwork::from_edges("a", &[edge("a", "b", 60.0, 0.0, 0.0)], 1000.0).unwrap();
    let offers = place(
        &net,
        &[
            Offer::load("load", "b", 100.0, 0.0),
            Offer::generator("gen", "b", 0.0, 200.0, CostCurve::quadratic(50.0, 100.0)),
        ],
    );
    let s = solve(
        &net,
        &offers,
        &OpfOptions {
            lmp_source: 30.0,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(s.is_optimal(), "{:?}", s.status);
    let (a, b) = (net.bus_index("a").unwrap(), net.bus_index("b").unwrap());
    assert!(close(s.dlmp[a], 30.0, 1e-7), "{}", s.dlmp[a]);
    assert!(close(s.dlmp[b], 58.0, 1e-7), "{}", s.dlmp[b]);
    assert!(
        close(s.injection_kw[1], 40.0, 1e-6),
        "{}",
        s.injection_kw[1]
    );
    assert!(close(s.flow_p_kw[b], 60.0, 1e-7));
    assert!(
        close(s.congestion_dual[b], 28.0, 1e-7),
        "{}",
        s.congestion_dual[b]
    );
    assert!(close(s.decomposition.congestion[b], 28.0, 1e-7));
    assert!(close(s.decomposition.energy, 30.0, 1e-7));
    // Objective: 60 kW at 30 $/MWh + c(0.04 MW).
    assert!(
        close(
            s.objective,
            0.06 * 30.0 + 50.0 * 0.04 + 100.0 * 0.0016,
            1e-7
        ),
        "{}",
        s.objective
    );
    // Uncongested: one price, the generator above the LMP stays off.
    let mut loose = net.clone();
    loose.clear_limits();
    let s = solve(
        &loose,
        &offers,
        &OpfOptions {
            lmp_source: 30.0,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(close(s.dlmp[b], 30.0, 1e-7) && s.injection_kw[1].abs() < 1e-5);
    // The same holds in the other formulations on a lossless line.
    for f in [Formulation::LinDistFlow, Formulation::Socp] {
        let s = solve(
            &net,
            &offers,
            &OpfOptions {
                formulation: f,
                lmp_source: 30.0,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(s.is_optimal(), "{f}: {:?}", s.status);
        assert!(close(s.dlmp[b], 58.0, 1e-6), "{f}: {}", s.dlmp[b]);
        assert!(
            close(s.decomposition.congestion[b], 28.0, 1e-6),
            "{f}: {}",
            s.decomposition.congestion[b]
        );
    }
}

/// Exports: with local generation above the load, the feeder exports and is
/// paid the export price (0 in the paper), so the root price drops to 0.
#[test]
fn exports_are_paid_the_export_price() {
    let net =
        DlmpNetwork::from_edges("a", &[edge("a", "b", f64::INFINITY, 0.0, 0.0)], 1000.0).unwrap();
    let offers = place(
        &net,
        &[
            Offer::load("load", "b", 10.0, 0.0),
            Offer::generator("pv", "b", 50.0, 50.0, CostCurve::zero()),
        ],
    );
    let s = solve(
        &net,
        &offers,
        &OpfOptions {
            lmp_source: 40.0,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(close(s.source_p_kw, -40.0, 1e-7), "{}", s.source_p_kw);
    assert!(
        s.dlmp[0].abs() < 1e-6 && s.dlmp[1].abs() < 1e-6,
        "{:?}",
        s.dlmp
    );
    let s = solve(
        &net,
        &offers,
        &OpfOptions {
            lmp_source: 40.0,
            export_price: 25.0,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(close(s.dlmp[1], 25.0, 1e-7), "{:?}", s.dlmp);
}

/// A case with every kind of binding constraint: a congested lateral, a
/// voltage floor that binds at the far end, losses, DR and generators.
fn stressed_ieee37() -> (DlmpNetwork, Vec<Offer>, OpfOptions) {
    let (mut net, circuit, _grid) = DlmpNetwork::from_feeder("ieee37").unwrap();
    net.set_limit("sourcebus", "799", 4000.0).unwrap();
    net.set_limit("702", "703", 900.0).unwrap();
    let mut offers = Vec::new();
    for l in ogg_market::feeder::bus_loads(&circuit) {
        let q: f64 = circuit
            .loads
            .iter()
            .filter(|x| l.loads.contains(&x.name))
            .map(|x| x.kvar)
            .sum();
        if ["738", "711", "722"].contains(&l.bus.as_str()) {
            offers.push(Offer::demand_response(
                &format!("dr{}", l.bus),
                &l.bus,
                0.5 * l.kw,
                l.kw,
                q / l.kw,
                CostCurve::quadratic(60.0, 800.0),
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
    // Fixed regulator taps, so that the floor cannot be met by raising the tap for free.
    let opts = OpfOptions {
        lmp_source: 30.0,
        v_min_pu: 0.0,
        v_exempt: vec!["799".into()],
        regulators: false,
        ..Default::default()
    };
    let opts = with_binding_floor(&net, &offers, opts, Formulation::LinDistFlow);
    (net, offers, opts)
}

/// A voltage floor just above the lowest voltage formulation `f` gives without one, so that it binds.
fn with_binding_floor(
    net: &DlmpNetwork,
    offers: &[Offer],
    opts: OpfOptions,
    f: Formulation,
) -> OpfOptions {
    let placed = place(net, offers);
    let free = solve(
        net,
        &placed,
        &OpfOptions {
            formulation: f,
            v_min_pu: 0.0,
            ..opts.clone()
        },
    )
    .unwrap();
    let lowest = (0..net.len())
        .filter(|&i| net.bus_name(i) != "799")
        .map(|i| free.voltage_pu[i])
        .fold(9.0, f64::min);
    OpfOptions {
        v_min_pu: (lowest + 0.002).min(0.999),
        ..opts
    }
}

#[test]
fn dlmp_is_the_derivative_of_cost_with_respect_to_demand() {
    let (net, offers, base_opts) = stressed_ieee37();
    for f in Formulation::ALL {
        let opts0 = OpfOptions {
            formulation: f,
            ..base_opts.clone()
        };
        let placed = place(&net, &offers);
        let s = solve(&net, &placed, &opts0).unwrap();
        assert!(s.is_optimal(), "{f}: {:?}", s.status);
        // Keep the loss linearisation's base point fixed while perturbing.
        let opts = OpfOptions {
            loss_base_kw: Some(s.loss_base_kw.clone()),
            ..opts0.clone()
        };
        let eps_kw = 0.5;
        for bus in ["701", "703", "741", "736", "724"] {
            let j = net.bus_index(bus).unwrap();
            let mut cost = [0.0; 2];
            for (k, sign) in [(0, -1.0), (1, 1.0)] {
                let mut o = offers.clone();
                o.push(Offer::load("probe", bus, eps_kw, 0.0));
                if sign < 0.0 {
                    // −ε demand: a tiny zero-cost must-run injection instead.
                    o.pop();
                    o.push(Offer::generator(
                        "probe",
                        bus,
                        eps_kw,
                        eps_kw,
                        CostCurve::zero(),
                    ));
                }
                cost[k] = solve(&net, &place(&net, &o), &opts).unwrap().objective;
            }
            let fd = (cost[1] - cost[0]) / (2.0 * eps_kw / 1000.0);
            assert!(
                close(fd, s.dlmp[j], 2e-3),
                "{f} bus {bus}: finite difference {fd} vs DLMP {}",
                s.dlmp[j]
            );
        }
    }
}

#[test]
fn decomposition_components_sum_to_the_dlmp_and_each_shows_up() {
    let (net, offers, base_opts) = stressed_ieee37();
    let placed = place(&net, &offers);
    for f in Formulation::ALL {
        let base_opts = if f == Formulation::Dc {
            base_opts.clone()
        } else {
            with_binding_floor(&net, &offers, base_opts.clone(), f)
        };
        let s = solve(
            &net,
            &placed,
            &OpfOptions {
                formulation: f,
                ..base_opts.clone()
            },
        )
        .unwrap();
        assert!(s.is_optimal(), "{f}: {:?}", s.status);
        let resid = s.decomposition.residual(&s.dlmp);
        assert!(
            resid < 1e-5,
            "{f}: components miss the DLMP by {resid} $/MWh"
        );
        let max_abs = |v: &[f64]| v.iter().map(|x| x.abs()).fold(0.0, f64::max);
        assert!(
            max_abs(&s.decomposition.congestion) > 0.5,
            "{f}: no congestion component"
        );
        assert!(
            close(s.decomposition.energy, 30.0, 1e-6),
            "{f}: energy {}",
            s.decomposition.energy
        );
        if f != Formulation::Dc {
            assert!(
                max_abs(&s.decomposition.voltage) > 0.01,
                "{f}: no voltage component {:?}",
                s.decomposition.voltage
            );
            assert!(
                max_abs(&s.decomposition.loss) > 0.1,
                "{f}: no loss component"
            );
            // The binding floor sits at the far end.
            let vmin = s
                .voltage_pu
                .iter()
                .enumerate()
                .filter(|(i, _)| net.bus_name(*i) != "799")
                .map(|(_, v)| *v)
                .fold(9.0, f64::min);
            assert!(
                close(vmin, base_opts.v_min_pu, 1e-5),
                "{f}: lowest voltage {vmin}"
            );
        } else {
            assert_eq!(max_abs(&s.decomposition.voltage), 0.0);
        }
    }
}

#[test]
fn ptdf_form_and_branch_flow_form_give_identical_dlmps() {
    let (net, offers, opts) = stressed_ieee37();
    let mut cases = vec![(net, offers)];
    for seed in 0..6 {
        cases.push(random_case(40, seed, 0.3));
    }
    for (k, (net, offers)) in cases.iter().enumerate() {
        let placed = place(net, offers);
        let opts = OpfOptions {
            formulation: Formulation::Dc,
            ..opts.clone()
        };
        let branch = solve(net, &placed, &opts).unwrap();
        let dense = solve_ptdf(net, &placed, &opts).unwrap();
        assert!(
            branch.is_optimal() && dense.is_optimal(),
            "case {k}: {:?} {:?}",
            branch.status,
            dense.status
        );
        let h = ptdf_matrix(net);
        assert_eq!(h.h.len(), net.len() - 1);
        let mut congested = 0;
        for j in 0..net.len() {
            // 1e-5: interior-point accuracy where a price is set by a nearly idle offer.
            assert!(
                close(branch.dlmp[j], dense.dlmp[j], 1e-5),
                "case {k} bus {}: {} vs {}",
                net.bus_name(j),
                branch.dlmp[j],
                dense.dlmp[j]
            );
        }
        for e in net.edges() {
            assert!(
                close(branch.flow_p_kw[e], dense.flow_p_kw[e], 1e-5),
                "case {k} edge {}",
                net.edge_label(e)
            );
            if branch.congestion_dual[e].abs() > 1e-6 {
                congested += 1;
            }
        }
        assert!(close(branch.objective, dense.objective, 1e-8));
        if k == 0 {
            assert!(congested > 0, "the IEEE 37 case should be congested");
        }
    }
}

#[test]
fn socp_relaxation_exactness_is_reported() {
    // Exact: positive prices make every phantom loss costly.
    let (net, offers, opts) = stressed_ieee37();
    let placed = place(&net, &offers);
    let s = solve(
        &net,
        &placed,
        &OpfOptions {
            formulation: Formulation::Socp,
            ..opts.clone()
        },
    )
    .unwrap();
    assert!(s.is_optimal());
    assert_eq!(
        s.relaxation_exact(opts.exactness_tol),
        Some(true),
        "max gap {}",
        s.max_socp_gap()
    );
    let phantom: f64 = s
        .socp_phantom_loss_kw
        .iter()
        .filter(|v| v.is_finite())
        .sum();
    assert!(phantom < 0.01, "{phantom} kW of phantom losses");
    // Not exact: a negative transmission price (exports paid the same) makes
    // burning power profitable, and the relaxation invents losses to do so.
    let mut loose = net.clone();
    loose.clear_limits();
    let neg = OpfOptions {
        formulation: Formulation::Socp,
        lmp_source: -20.0,
        export_price: -20.0,
        v_min_pu: 0.9,
        v_max_pu: 1.1,
        ..opts.clone()
    };
    let s = solve(&loose, &placed, &neg).unwrap();
    assert!(s.is_optimal(), "{:?}", s.status);
    assert_eq!(
        s.relaxation_exact(neg.exactness_tol),
        Some(false),
        "max gap {}",
        s.max_socp_gap()
    );
    let phantom: f64 = s
        .socp_phantom_loss_kw
        .iter()
        .filter(|v| v.is_finite())
        .sum();
    assert!(phantom > 1.0, "{phantom} kW of phantom losses");
}

#[test]
fn infeasible_opf_names_the_agents_and_the_line() {
    let net = DlmpNetwork::from_edges(
        "a",
        &[
            edge("a", "b", 10.0, 0.001, 0.001),
            edge("b", "c", f64::INFINITY, 0.001, 0.001),
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
            &OpfOptions {
                formulation: f,
                ..Default::default()
            },
        )
        .unwrap();
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

#[test]
fn bad_offers_are_rejected_naming_the_agent() {
    let bad = [
        Offer::generator("nan", "b", 0.0, f64::NAN, CostCurve::linear(1.0)),
        Offer::generator("concave", "b", 0.0, 10.0, CostCurve::quadratic(1.0, -5.0)),
        Offer::generator(
            "cubic",
            "b",
            0.0,
            10.0,
            CostCurve::Polynomial(vec![0.0, 1.0, 1.0, 2.0]),
        ),
        Offer::generator(
            "nan-cost",
            "b",
            0.0,
            10.0,
            CostCurve::quadratic(f64::NAN, 1.0),
        ),
        Offer::generator(
            "falling-slope",
            "b",
            0.0,
            100.0,
            CostCurve::PiecewiseLinear(vec![(0.0, 0.0), (0.05, 3.0), (0.1, 4.0)]),
        ),
        Offer::generator(
            "short-pwl",
            "b",
            0.0,
            100.0,
            CostCurve::PiecewiseLinear(vec![(0.0, 0.0), (0.05, 3.0)]),
        ),
        Offer::generator("reversed", "b", 10.0, 5.0, CostCurve::linear(1.0)),
        Offer::demand_response("negative", "b", -1.0, 5.0, 0.0, CostCurve::linear(1.0)),
        Offer::load("inf", "b", f64::INFINITY, 0.0),
    ];
    let net =
        DlmpNetwork::from_edges("a", &[edge("a", "b", f64::INFINITY, 0.0, 0.0)], 1000.0).unwrap();
    for o in &bad {
        let e = PlacedOffer::place(&net, o).unwrap_err().to_string();
        assert!(e.contains(&format!("'{}'", o.agent)), "{e}");
    }
    let e = PlacedOffer::place(&net, &Offer::load("lost", "zz", 1.0, 0.0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("'lost'") && e.contains("zz"), "{e}");
    let e = PlacedOffer::place(&net, &bad[1]).unwrap_err().to_string();
    assert!(e.contains("non-convex"), "{e}");
}

#[test]
fn piecewise_linear_costs_dispatch_cheapest_segments_first() {
    let net = DlmpNetwork::from_edges("a", &[edge("a", "b", 50.0, 0.0, 0.0)], 1000.0).unwrap();
    // Segments: 0–40 kW at 20 $/MWh, 40–100 kW at 70 $/MWh; 120 kW of load, 50 kW from the source.
    let pwl = CostCurve::PiecewiseLinear(vec![(0.0, 0.0), (0.04, 0.8), (0.1, 5.0)]);
    let offers = place(
        &net,
        &[
            Offer::load("l", "b", 120.0, 0.0),
            Offer::generator("g", "b", 0.0, 100.0, pwl),
        ],
    );
    let s = solve(
        &net,
        &offers,
        &OpfOptions {
            lmp_source: 30.0,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        close(s.injection_kw[1], 70.0, 1e-6),
        "{}",
        s.injection_kw[1]
    );
    assert!(close(s.dlmp[1], 70.0, 1e-6), "{}", s.dlmp[1]);
    assert!(
        close(s.objective, 0.05 * 30.0 + 0.8 + 0.03 * 70.0, 1e-7),
        "{}",
        s.objective
    );
}

#[test]
fn updating_a_solver_in_place_matches_a_fresh_solve() {
    let (net, offers, opts) = stressed_ieee37();
    let mut solver = OpfSolver::new();
    for f in Formulation::ALL {
        for (k, lmp) in [25.0, 60.0, 45.0].into_iter().enumerate() {
            let mut o = offers.clone();
            for offer in o.iter_mut() {
                offer.p_max_kw *= 1.0 - 0.05 * k as f64;
                if offer.kind == OfferKind::Load {
                    offer.p_min_kw = offer.p_max_kw;
                }
            }
            let placed = place(&net, &o);
            let opts = OpfOptions {
                formulation: f,
                lmp_source: lmp,
                ..opts.clone()
            };
            let a = solver.solve(&net, &placed, &opts).unwrap();
            assert_eq!(a.rebuilt, k == 0, "{f} interval {k}");
            let b = solve(&net, &placed, &opts).unwrap();
            for j in 0..net.len() {
                assert!(
                    close(a.dlmp[j], b.dlmp[j], 1e-5),
                    "{f} interval {k}: {} vs {}",
                    a.dlmp[j],
                    b.dlmp[j]
                );
            }
        }
    }
}

#[test]
fn random_trees_are_feasible_and_consistent() {
    for n in [20, 200] {
        for seed in 0..3 {
            let (net, offers) = random_case(n, seed, 0.2);
            let placed = place(&net, &offers);
            for f in Formulation::ALL {
                let s = solve(
                    &net,
                    &placed,
                    &OpfOptions {
                        formulation: f,
                        lmp_source: 35.0,
                        ..Default::default()
                    },
                )
                .unwrap();
                assert!(s.is_optimal(), "n {n} seed {seed} {f}: {:?}", s.status);
                assert!(
                    s.decomposition.residual(&s.dlmp) < 1e-5,
                    "n {n} seed {seed} {f}"
                );
                if f == Formulation::Socp {
                    assert_eq!(
                        s.relaxation_exact(1e-4),
                        Some(true),
                        "n {n} seed {seed}: gap {}",
                        s.max_socp_gap()
                    );
                }
            }
        }
    }
}

/// IEEE 37's regulator: at light load its base-case (peak) tap would push the
/// feeder above 1.05 pu; modelled as a regulator, the OPF lowers the ratio and
/// keeps 799r within the RegControl's band (122 ± 1 V on a 40:1 PT at 4.8 kV).
#[test]
fn regulators_hold_their_band_with_a_floating_ratio() {
    let (net, circuit, _grid) = DlmpNetwork::from_feeder("ieee37").unwrap();
    let reg_edge = net.bus_index("799r").unwrap();
    let reg = net.regulation[reg_edge].expect("the 799-799r bank is a regulator");
    assert!(
        close(reg.v_low_pu, 121.0 * 40.0 / 4800.0, 1e-12)
            && close(reg.v_high_pu, 123.0 * 40.0 / 4800.0, 1e-12),
        "{reg:?}"
    );
    assert!(
        net.tap[reg_edge] > 1.05,
        "base-case tap {}",
        net.tap[reg_edge]
    );
    let light: Vec<Offer> = ogg_dlmp::cli::feeder_load_offers(&circuit)
        .into_iter()
        .map(|mut o| {
            o.p_max_kw *= 0.3;
            o.p_min_kw = o.p_max_kw;
            o
        })
        .collect();
    let placed = place(&net, &light);
    let mut loose = net.clone();
    loose.clear_limits();
    for f in [Formulation::LinDistFlow, Formulation::Socp] {
        let fixed = OpfOptions {
            formulation: f,
            regulators: false,
            v_exempt: vec!["799".into()],
            ..Default::default()
        };
        let s = solve(&loose, &placed, &fixed).unwrap();
        assert!(
            matches!(s.status, OpfStatus::Infeasible { .. })
                || s.voltage_pu[reg_edge] > 1.05 - 1e-6,
            "{f}: {:?}",
            s.status
        );
        let s = solve(
            &loose,
            &placed,
            &OpfOptions {
                regulators: true,
                ..fixed
            },
        )
        .unwrap();
        assert!(s.is_optimal(), "{f}: {:?}", s.status);
        let v = s.voltage_pu[reg_edge];
        assert!(
            v >= reg.v_low_pu - 1e-6 && v <= reg.v_high_pu + 1e-6,
            "{f}: 799r at {v}"
        );
        assert!(
            s.tap[reg_edge] >= reg.tap_min - 1e-9 && s.tap[reg_edge] < net.tap[reg_edge],
            "{f}: tap {}",
            s.tap[reg_edge]
        );
        assert!(s.decomposition.residual(&s.dlmp) < 1e-5, "{f}");
    }
}

/// The lossless OPF cleared by ogg-market's exact tree algorithm equals the interior point.
#[test]
fn tree_algorithm_matches_clarabel_on_the_lossless_formulation() {
    let (net, offers, opts) = stressed_ieee37();
    let mut cases = vec![(net, offers)];
    for seed in 0..8 {
        cases.push(random_case(60 + 20 * seed as usize, seed, 0.3));
    }
    // A piecewise-linear demand-response provider and a must-run generator.
    let net = DlmpNetwork::from_edges("a", &[edge("a", "b", 80.0, 0.0, 0.0)], 1000.0).unwrap();
    cases.push((
        net,
        vec![
            Offer::load("l", "b", 60.0, 0.0),
            Offer::demand_response(
                "dr",
                "b",
                20.0,
                100.0,
                0.0,
                CostCurve::PiecewiseLinear(vec![(0.0, 0.0), (0.03, 1.5), (0.08, 5.5)]),
            ),
            Offer::generator(
                "must",
                "b",
                10.0,
                50.0,
                CostCurve::PiecewiseLinear(vec![(0.0, 0.0), (0.02, 1.2), (0.05, 4.2)]),
            ),
        ],
    ));
    for (k, (net, offers)) in cases.iter().enumerate() {
        let placed = place(net, offers);
        let ipm = solve(
            net,
            &placed,
            &OpfOptions {
                formulation: Formulation::Dc,
                tolerance: 1e-10,
                ..opts.clone()
            },
        )
        .unwrap();
        let mut solver = OpfSolver::new();
        let tree = solver
            .solve(
                net,
                &placed,
                &OpfOptions {
                    formulation: Formulation::Dc,
                    dc_algorithm: DcAlgorithm::Tree,
                    ..opts.clone()
                },
            )
            .unwrap();
        assert!(
            ipm.is_optimal() && tree.is_optimal(),
            "case {k}: {:?} / {:?}",
            ipm.status,
            tree.status
        );
        for j in 0..net.len() {
            assert!(
                close(ipm.dlmp[j], tree.dlmp[j], 1e-5),
                "case {k} bus {}: {} vs {}",
                net.bus_name(j),
                ipm.dlmp[j],
                tree.dlmp[j]
            );
        }
        for (i, o) in placed.iter().enumerate() {
            let scale = o.offer.p_max_kw.abs().max(1.0);
            assert!(
                (ipm.injection_kw[i] - tree.injection_kw[i]).abs() <= 1e-5 * scale,
                "case {k} offer {}: {} vs {}",
                o.agent,
                ipm.injection_kw[i],
                tree.injection_kw[i]
            );
        }
        assert!(
            close(ipm.objective, tree.objective, 1e-7),
            "case {k}: {} vs {}",
            ipm.objective,
            tree.objective
        );
        assert!(tree.decomposition.residual(&tree.dlmp) < 1e-9);
    }
    // Infeasibility is reported the same way.
    let net = DlmpNetwork::from_edges("a", &[edge("a", "b", 10.0, 0.0, 0.0)], 1000.0).unwrap();
    let placed = place(&net, &[Offer::load("alice", "b", 50.0, 0.0)]);
    let s = OpfSolver::new()
        .solve(
            &net,
            &placed,
            &OpfOptions {
                dc_algorithm: DcAlgorithm::Tree,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(
        matches!(&s.status, OpfStatus::Infeasible { agents, .. } if agents[0] == "alice"),
        "{:?}",
        s.status
    );
}
