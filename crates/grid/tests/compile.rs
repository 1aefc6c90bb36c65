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
