use ogg_dlmp::*;
fn main() {
    let (mut net, circuit, _grid) = DlmpNetwork::from_feeder("ieee37").unwrap();
    net.set_limit("sourcebus","799",3500.0).unwrap();
    println!("{} buses, coords {}", net.len(), net.coords.iter().filter(|c| c.is_some()).count());
    for e in net.edges() {
        println!("{:>12} {:>30} r {:.5} x {:.5} tap {:.4} lim {:.0} kV {}", net.edge_label(e), net.tree.edge_name[e], net.r_pu[e], net.x_pu[e], net.tap[e], net.limit_kw(e), net.kv_ll[e]);
    }
    let loads = ogg_market::feeder::bus_loads(&circuit);
    let mut offers: Vec<PlacedOffer> = loads.iter().map(|l| {
        let q: f64 = circuit.loads.iter().filter(|x| l.loads.contains(&x.name)).map(|x| x.kvar).sum();
        PlacedOffer::place(&net, &Offer::load(&format!("c{}", l.bus), &l.bus, l.kw, q / l.kw)).unwrap()
    }).collect();
    offers.push(PlacedOffer::place(&net, &Offer::generator("g1", "736", 0.0, 300.0, CostCurve::quadratic(20.0, 50.0))).unwrap());
    let pf = _grid.power_flow();
    let ll = pf.line_to_line_voltages();
    for b in ["sourcebus","799","799r","701","702","703","709","711","741","736","724","775"] {
        let v: Vec<f64> = ll.iter().filter(|l| l.bus==b).map(|l| l.pu).collect();
        println!("AC {b}: LL {:?}  LN {:.4}", v, pf.bus_voltage_pu(pf.bus_index(b).unwrap()));
    }
    println!("AC total {:?} losses {:?}", pf.total_power(), pf.losses());
    for f in Formulation::ALL {
        let opts = OpfOptions { formulation: f, v_exempt: vec!["799".into()], ..Default::default() };
        let s = solve(&net, &offers, &opts).unwrap();
        println!("{f}: {:?} obj {:.3} src {:.1} kW, dlmp {:.3}..{:.3}, vmin {:.4} gap {:e} resid {:e} it {} t {:.2} ms", s.status, s.objective, s.source_p_kw,
            s.dlmp.iter().cloned().fold(f64::INFINITY, f64::min), s.dlmp.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            s.voltage_pu.iter().cloned().fold(f64::INFINITY, f64::min), s.max_socp_gap(), s.decomposition.residual(&s.dlmp), s.iterations, s.solve_seconds*1e3);
        for b in ["799","799r","701","741","736","775"] { let i = net.bus_index(b).unwrap(); print!("{b}:{:.4} ", s.voltage_pu[i]); } println!(" loss {:.1}", s.loss_kw.iter().sum::<f64>());
    }
}
#[allow(dead_code)]
fn unused() {}
