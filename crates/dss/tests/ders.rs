//! Generator, PVSystem and Storage property side effects, against the values
//! OpenDSS (dss-python 0.15.7, DSS C-API 0.14.5) reports for the same
//! statements.

use ogg_dss::{read_str, Circuit, MemoryFiles, StorageState};

fn read(lines: &str) -> Circuit {
    read_str(
        &format!("New Circuit.t\n{lines}\n"),
        "t.dss",
        &MemoryFiles::new(),
    )
    .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn generator_kw_kvar_pf_follow_the_order_given() {
    // (statement, kW, kvar, pf, maxkvar, minkvar, kVA) as OpenDSS reports them.
    let cases = [
        (
            "kvar=100 kw=500",
            500.0,
            50.0,
            0.995037190209989,
            100.0,
            -100.0,
            600.0,
        ),
        (
            "kw=500 kvar=100",
            500.0,
            100.0,
            0.98058067569092,
            200.0,
            -200.0,
            600.0,
        ),
        (
            "kw=500",
            500.0,
            269.871411069044,
            0.88,
            539.742822138087,
            -539.742822138087,
            600.0,
        ),
        (
            "kw=500 pf=-0.9",
            500.0,
            -242.161052418926,
            -0.9,
            484.322104837853,
            -484.322104837853,
            600.0,
        ),
        (
            "kvar=-100",
            1000.0,
            -100.0,
            -0.995037190209989,
            -200.0,
            200.0,
            1200.0,
        ),
        (
            "kw=500 kva=800 kw=600",
            600.0,
            323.845693282852,
            0.88,
            647.691386565705,
            -647.691386565705,
            800.0,
        ),
    ];
    for (statement, kw, kvar, pf, maxkvar, minkvar, kva) in cases {
        let c = read(&format!("New Generator.x {statement}"));
        let g = &c.generators[0];
        for (what, ours, theirs) in [
            ("kW", g.kw, kw),
            ("kvar", g.kvar, kvar),
            ("pf", g.pf, pf),
            ("maxkvar", g.maxkvar, maxkvar),
            ("minkvar", g.minkvar, minkvar),
            ("kVA", g.kva, kva),
        ] {
            assert!(
                close(ours, theirs),
                "`{statement}`: {what} {ours} vs OpenDSS {theirs}"
            );
        }
    }
}

#[test]
fn storage_and_pv_ratings() {
    let c = read("New Storage.x kwrated=100");
    let s = &c.storages[0];
    assert_eq!(
        (s.kva, s.kvar_max, s.kvar_max_abs, s.kwh_stored),
        (100.0, 25.0, 25.0, 50.0)
    );
    let c = read("New Storage.x kwhrated=100 %stored=50 kwhrated=200");
    assert_eq!(c.storages[0].kwh_stored, 200.0);
    // kW= picks the state and the percentage of the kWrated of that moment.
    let c = read("New Storage.x kw=10 kwrated=100");
    let s = &c.storages[0];
    assert_eq!(
        (s.state, s.pct_discharge),
        (StorageState::Discharging, 40.0)
    );
    for statement in ["kvarmax=100 kva=300", "kva=300 kvarmax=100"] {
        let c = read(&format!("New PVSystem.x {statement}"));
        let p = &c.pvsystems[0];
        assert_eq!(
            (p.kva, p.kvar_max, p.kvar_max_abs),
            (300.0, 100.0, 100.0),
            "{statement}"
        );
    }
}

#[test]
fn curves_and_temperature_shapes() {
    let c = read(
        "New XYcurve.e npts=3 points=[0 0.8, 0.5 0.95, 1 0.97] xscale=2 yshift=0.01\n\
         New XYcurve.f xarray=[1 2] yarray=[3 4]\n\
         New TShape.t npts=3 interval=0.5 temp=[10 20 30]",
    );
    assert_eq!(c.xycurves[0].x, vec![0.0, 0.5, 1.0]);
    assert_eq!(c.xycurves[0].y, vec![0.8, 0.95, 0.97]);
    assert_eq!(
        (c.xycurves[1].x.clone(), c.xycurves[1].y.clone()),
        (vec![1.0, 2.0], vec![3.0, 4.0])
    );
    assert_eq!(
        (
            c.tshapes[0].npts,
            c.tshapes[0].interval_h,
            c.tshapes[0].temp.clone()
        ),
        (3, 0.5, vec![10.0, 20.0, 30.0])
    );
}
