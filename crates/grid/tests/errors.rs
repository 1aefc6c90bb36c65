//! Bad input is an error naming the element and where it was defined;
//! nothing panics.

use ogg_dss::MemoryFiles;
use ogg_grid::{GridError, PowerFlow};

fn compile(script: &str) -> Result<PowerFlow, GridError> {
    let c = ogg_dss::read_str(script, "bad.dss", &MemoryFiles::new()).map_err(|e| GridError::Read(e.to_string()))?;
    PowerFlow::new(&c)
}

const HEAD: &str = "Clear\nNew Circuit.t basekv=12.47 bus1=a\n";

#[test]
fn element_errors_name_element_and_line() {
    let err = compile(&format!("{HEAD}New Transformer.tx buses=[a b] kvs=[12.47 0] kvas=[500 500]\n"))
        .expect_err("zero kV is rejected")
        .to_string();
    assert!(err.contains("Transformer.tx") && err.contains("bad.dss:3"), "{err}");

    let err = compile(&format!("{HEAD}New Line.l1 bus1=a bus2=b\nNew RegControl.r transformer=nosuch winding=2\n"))
        .expect_err("missing transformer")
        .to_string()
        .to_lowercase();
    // (The reader or the engine, whichever notices first.)
    assert!(err.contains("regcontrol.r") && err.contains("nosuch"), "{err}");

    let err = compile(&format!(
        "{HEAD}New Line.l1 bus1=a bus2=b\nNew Capacitor.c bus1=b kvar=100 kv=12.47\nNew CapControl.cc element=Line.l9 capacitor=c type=voltage on=110 off=125\n"
    ))
    .expect_err("missing monitored element")
    .to_string()
    .to_lowercase();
    assert!(err.contains("capcontrol.cc") && err.contains("line.l9"), "{err}");
}

#[test]
fn reverse_power_settings_compile_and_bad_ones_are_located() {
    let script = format!(
        "{HEAD}New Transformer.reg phases=1 buses=[a.1 b.1] kvs=[7.2 7.2] kvas=[1000 1000] xhl=1\n\
         New RegControl.r transformer=reg winding=2 vreg=120 ptratio=60 reversible=yes revneutral=yes cogen=no revdelay=30\n"
    );
    compile(&script).expect("reverse-power regulation compiles");
    let err = compile(&script.replace("revdelay=30", "revdelay=-5")).expect_err("negative revdelay").to_string().to_lowercase();
    assert!(err.contains("regcontrol.r") && err.contains("revdelay") && err.contains("bad.dss:4"), "{err}");
    // A value that is not a number is the reader's located error.
    let err = compile(&script.replace("revdelay=30", "revthreshold=lots")).expect_err("not a number").to_string().to_lowercase();
    assert!(err.contains("bad.dss:4") && err.contains("revthreshold"), "{err}");
}

#[test]
fn event_control_mode_is_refused_by_grid_steps() {
    let script = format!("{HEAD}New Line.l1 bus1=a bus2=b\nNew Load.x bus1=b kw=100 kv=12.47\nSet ControlMode=event\n");
    let c = ogg_dss::read_str(&script, "bad.dss", &MemoryFiles::new()).unwrap();
    let err = ogg_grid::DistributionGrid::new(&c, 3600.0).err().expect("event mode in grid steps").to_string();
    assert!(err.contains("ControlMode=event"), "{err}");
    // A power flow and a time series take it.
    PowerFlow::new(&c).expect("event mode compiles for a power flow");
}

#[test]
fn a_circuit_without_a_source_is_rejected() {
    let c = ogg_dss::Circuit::default();
    let err = PowerFlow::new(&c).unwrap_err().to_string();
    assert!(err.contains("no enabled voltage source"), "{err}");
}

#[test]
fn non_convergence_is_a_report() {
    // 50 MW at the end of a long 12.47 kV line: the fixed point diverges.
    let mut pf = compile(&format!(
        "{HEAD}New Line.l1 bus1=a bus2=b length=20 units=km\nNew Load.big bus1=b kv=12.47 kw=50000 kvar=20000 model=1 vminpu=0.2\nSet VoltageBases=[12.47]\nCalcVoltageBases\n"
    ))
    .unwrap();
    let r = pf.solve().unwrap();
    assert!(!r.converged);
    let nc = r.non_convergence.expect("a report");
    assert!(nc.worst_node.starts_with('b') || nc.worst_node.starts_with('a'), "{nc:?}");
    assert!(nc.iterations >= 15, "{nc:?}");
    assert!(PowerFlow::require_converged(&pf.last_report().clone()).is_err());
}
