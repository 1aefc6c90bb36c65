//! Compile-time shortcuts must not change what is compiled: transformers with
//! equal data share one Yprim computation (`elements::transformer::yprim_key`),
//! so every transformer's Yprim in the compiled circuit is checked, bit for bit,
//! against a direct computation — over transformers that differ from a common
//! XfmrCode in one property each, so that a property missing from the key
//! would make two of them share a wrong Yprim.

use ogg_dss::{read_str, MemoryFiles};
use ogg_grid::{elements::transformer, PowerFlow};

const SCRIPT: &str = "
Clear
New Circuit.shared basekv=12.47 pu=1.0 phases=3 bus1=src
New XfmrCode.ct phases=1 windings=3 kvs=[7.2 0.12 0.12] kvas=[25 25 25] %rs=[0.6 1.2 1.2] xhl=2.04 xht=2.04 xlt=1.36 %noloadloss=0.2 %imag=0.5
New XfmrCode.three phases=3 windings=2 conns=[delta wye] kvs=[12.47 0.48] kvas=[500 500] %rs=[0.5 0.5] xhl=5
New Line.trunk bus1=src bus2=a phases=3 r1=0.1 x1=0.2 r0=0.3 x0=0.6 c1=0 c0=0 length=1
New Transformer.same1 xfmrcode=ct buses=[a.1 s1.1.0 s1.0.2]
New Transformer.same2 xfmrcode=ct buses=[a.2 s2.1.0 s2.0.2]
New Transformer.same3 xfmrcode=ct buses=[a.3 s3.1.0 s3.0.2]
New Transformer.kv xfmrcode=ct buses=[a.1 t1.1.0 t1.0.2] kvs=[7.3 0.12 0.12]
New Transformer.kva xfmrcode=ct buses=[a.1 t2.1.0 t2.0.2] kvas=[50 50 50]
New Transformer.pctr xfmrcode=ct buses=[a.1 t3.1.0 t3.0.2] %rs=[0.7 1.2 1.2]
New Transformer.xhl xfmrcode=ct buses=[a.1 t4.1.0 t4.0.2] xhl=2.5
New Transformer.xht xfmrcode=ct buses=[a.1 t5.1.0 t5.0.2] xht=2.5
New Transformer.xlt xfmrcode=ct buses=[a.1 t6.1.0 t6.0.2] xlt=1.5
New Transformer.noload xfmrcode=ct buses=[a.1 t7.1.0 t7.0.2] %noloadloss=0.3
New Transformer.imag xfmrcode=ct buses=[a.1 t8.1.0 t8.0.2] %imag=0.6
New Transformer.ppm xfmrcode=ct buses=[a.1 t9.1.0 t9.0.2] ppm_antifloat=2
New Transformer.tap xfmrcode=ct buses=[a.1 t10.1.0 t10.0.2] taps=[1.0125 1 1]
New Transformer.rneut xfmrcode=ct buses=[a.1 t11.1.0 t11.0.2] wdg=2 rneut=5 xneut=1
New Transformer.d1 xfmrcode=three buses=[a d1]
New Transformer.d2 xfmrcode=three buses=[a d2]
New Transformer.lead xfmrcode=three buses=[a d3] leadlag=lead
New Transformer.wye xfmrcode=three buses=[a d4] conns=[wye wye]
Set VoltageBases=[12.47 0.48 0.208]
CalcVoltageBases
";

#[test]
fn every_transformer_yprim_equals_a_direct_computation() {
    let circuit = read_str(SCRIPT, "shared.dss", &MemoryFiles::new()).expect("script reads");
    let pf = PowerFlow::new(&circuit).expect("compiles");
    assert_eq!(circuit.transformers.len(), 18);
    let mut distinct = Vec::new();
    for t in &circuit.transformers {
        let taps: Vec<f64> = t.windings.iter().map(|w| w.tap).collect();
        let direct = transformer::yprim(t, &taps).expect("direct Yprim").full;
        let (_, compiled) = pf.element_yprim(&format!("transformer.{}", t.name)).expect("compiled element");
        let bits = |m: &ogg_grid::cmat::CMat| -> Vec<(u64, u64)> {
            m.as_slice().iter().map(|v| (v.re.to_bits(), v.im.to_bits())).collect()
        };
        assert_eq!(bits(&compiled), bits(&direct), "transformer.{}", t.name);
        if !distinct.contains(&bits(&direct)) {
            distinct.push(bits(&direct));
        }
    }
    // same1..3 share one Yprim, d1/d2 another; every other variant is its own.
    assert_eq!(distinct.len(), 18 - 2 - 1, "the variants really differ");
}

/// Two identical paths from `a` to `c` in parallel (a loop: the AMD ordering)
/// against one path of half their length (a radial feeder: buses ordered
/// leaves first). Without line capacitance the two are the same circuit, so
/// every voltage must agree to rounding, and both take the same iterations.
#[test]
fn meshed_and_radial_orderings_give_the_same_solution() {
    let feeder = |paths: &str| {
        format!(
            "Clear
New Circuit.ring basekv=12.47 pu=1.02 phases=3 bus1=src
New Line.feed bus1=src bus2=a phases=3 r1=0.1 x1=0.3 r0=0.3 x0=0.9 c1=0 c0=0 length=1
{paths}
New Load.c bus1=c phases=3 kv=12.47 kw=3000 kvar=1200
New Load.c1 bus1=c.1 phases=1 kv=7.2 kw=400 kvar=100
New Transformer.t phases=3 windings=2 buses=[c d] conns=[delta wye] kvs=[12.47 0.48] kvas=[2000 2000] xhl=6 %r=0.5
New Load.d bus1=d phases=3 kv=0.48 kw=800 kvar=300 model=2
Set VoltageBases=[12.47 0.48]
CalcVoltageBases
"
        )
    };
    let line = |name: &str, from: &str, to: &str, length: f64| {
        format!("New Line.{name} bus1={from} bus2={to} phases=3 r1=0.2 x1=0.5 r0=0.5 x0=1.5 c1=0 c0=0 length={length}\n")
    };
    let meshed = feeder(&(line("p1", "a", "b1", 2.0) + &line("q1", "b1", "c", 2.0) + &line("p2", "a", "b2", 2.0) + &line("q2", "b2", "c", 2.0)));
    let radial = feeder(&(line("p", "a", "b", 1.0) + &line("q", "b", "c", 1.0)));
    let solve = |script: &str| {
        let circuit = read_str(script, "ring.dss", &MemoryFiles::new()).expect("script reads");
        let mut pf = PowerFlow::new(&circuit).expect("compiles");
        let report = pf.solve().expect("solves");
        (pf.voltage_table(), report.iterations)
    };
    let (meshed_v, meshed_iterations) = solve(&meshed);
    let (radial_v, radial_iterations) = solve(&radial);
    assert_eq!(meshed_iterations, radial_iterations);
    let by_bus = |table: &[ogg_grid::results::NodeVoltage], bus: &str| -> Vec<num_complex::Complex64> {
        table.iter().filter(|nv| nv.bus == bus).map(|nv| nv.v).collect()
    };
    for bus in ["src", "a", "c", "d"] {
        let (m, r) = (by_bus(&meshed_v, bus), by_bus(&radial_v, bus));
        assert_eq!(m.len(), r.len(), "bus {bus}");
        assert!(!m.is_empty(), "bus {bus}");
        for (vm, vr) in m.iter().zip(&r) {
            assert!((vm - vr).norm() <= 1e-9 * vr.norm(), "bus {bus}: {vm} (meshed) vs {vr} (radial)");
        }
    }
    // The loads pull the voltage down: the check is not on a no-load circuit.
    let c = by_bus(&radial_v, "c")[0].norm();
    assert!(c < 0.99 * 1.02 * 12470.0 / 3f64.sqrt(), "{c}");
}
