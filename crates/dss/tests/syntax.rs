//! One test per piece of the script language the reader handles.

use ogg_dss::*;

fn read(script: &str) -> Circuit {
    read_str(script, "test.dss", &MemoryFiles::new()).unwrap_or_else(|e| panic!("{e}"))
}

fn read_with(script: &str, files: &MemoryFiles) -> Circuit {
    read_str(script, "dir/test.dss", files).unwrap_or_else(|e| panic!("{e}"))
}

const CIRCUIT: &str = "New Circuit.t basekv=12.47\n";

fn load<'a>(c: &'a Circuit, name: &str) -> &'a Load {
    c.loads
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("load {name}"))
}

#[test]
fn new_edit_and_property_statements() {
    let c = read(&format!(
        "{CIRCUIT}New Load.a kW=1\nEdit Load.a kW=2 kvar=1\nLoad.a.kv=4.16 model=2\nload.A.VMINPU=0.9\n"
    ));
    let a = load(&c, "a");
    assert_eq!(
        (a.kw, a.kvar, a.kv, a.model, a.vminpu),
        (2.0, 1.0, 4.16, 2, 0.9)
    );
}

#[test]
fn new_object_equals_circuit_and_source_defaults() {
    let c = read("new object=circuit.My-Ckt\n~ pu=1.02\n");
    assert_eq!(c.name, "my-ckt");
    let v = &c.vsources[0];
    assert_eq!(
        (v.name.as_str(), v.bus1.bus.as_str()),
        ("source", "sourcebus")
    );
    assert_eq!(
        (v.base_kv, v.pu, v.phases, v.mvasc3, v.mvasc1, v.angle_deg),
        (115.0, 1.02, 3, 2000.0, 2100.0, 0.0)
    );
    assert_eq!(
        (v.x1r1, v.x0r0, v.base_mva, v.frequency),
        (4.0, 3.0, 100.0, 60.0)
    );
}

#[test]
fn continuation_lines_tilde_more_and_m() {
    let c = read(&format!(
        "{CIRCUIT}New Load.a\n~ kW=5\nMore kvar=2\nM kv=0.48\n"
    ));
    let a = load(&c, "a");
    assert_eq!((a.kw, a.kvar, a.kv), (5.0, 2.0, 0.48));
}

#[test]
fn set_takes_several_options_and_abbreviations() {
    let c = read(&format!(
        "Set DefaultBaseFrequency=50\n{CIRCUIT}Set tolerance=1e-6 maxiter=50 maxcontroliter=20 controlmode=time loadmult=0.8\n\
         set mode=daily number=24 stepsize=15m algorithm=newton\nSet voltagebases=\"12.47, 0.48\"\nset hour=3 sec=1800\n"
    ));
    let o = &c.options;
    assert_eq!(
        (o.tolerance, o.max_iterations, o.max_control_iterations),
        (1e-6, 50, 20)
    );
    assert_eq!(
        (o.control_mode, o.load_mult, o.mode, o.number),
        (ControlMode::Time, 0.8, SolutionMode::Daily, 24)
    );
    assert_eq!(
        (o.stepsize_s, o.algorithm, o.base_frequency),
        (900.0, Algorithm::Newton, 50.0)
    );
    assert_eq!(o.start_hour, 3.5);
    assert_eq!(c.voltage_bases, vec![12.47, 0.48]);
    assert_eq!(
        c.vsources[0].frequency, 50.0,
        "the source takes the default base frequency"
    );
    let c = read("set stepsize=1h\nset stepsize=30s\n");
    assert_eq!(c.options.stepsize_s, 30.0);
}

#[test]
fn set_options_without_power_flow_effect_are_reported() {
    let c = read("Set markTransformers=yes\nset showexport=yes\n");
    assert_eq!(c.ignored.len(), 2);
    assert!(c.ignored[0].what.contains("markTransformers"));
    assert_eq!(c.ignored[0].location.line, 1);
}

#[test]
fn redirect_and_compile_resolve_relative_to_the_including_file_ignoring_case() {
    let files = MemoryFiles::new()
        .with("dir/sub/Codes.DSS", "New LineCode.c1 r1=0.5 units=kft\nRedirect ..\\more.dss\n")
        .with("dir/more.dss", "New LineCode.c2 r1=0.7\n")
        .with("dir/master.dss", "Clear\nNew Circuit.m\nRedir sub/codes.dss\nNew Line.l1 linecode=c1\nNew Line.l2 linecode=c2\n");
    let c = read_with("Compile master.dss\nNew Load.x kW=1\n", &files);
    assert_eq!(c.lines.len(), 2);
    assert_eq!(c.lines[0].impedance.units, LengthUnit::Kft);
    assert_eq!(
        c.loads.len(),
        1,
        "statements after Compile continue in the same circuit"
    );
}

#[test]
fn clear_starts_over() {
    let c = read(&format!(
        "{CIRCUIT}New Load.a\nSolve\nClear\n{CIRCUIT}New Load.b\n"
    ));
    assert_eq!(c.loads.len(), 1);
    assert_eq!(c.loads[0].name, "b");
    assert_eq!(c.solve_count, 0);
}

#[test]
fn calcv_solve_and_bus_coords() {
    let files = MemoryFiles::new().with("dir/xy.csv", "SourceBus, 1, 2\n! comment\n\n650 3.5 -4\n");
    let c = read_with(
        &format!("{CIRCUIT}calcv\nSolve\nsolve mode=snap\nBusCoords xy.csv\n"),
        &files,
    );
    assert!(c.calc_voltage_bases);
    assert_eq!(c.solve_count, 2);
    assert_eq!(c.bus_coords.get("sourcebus"), Some(&(1.0, 2.0)));
    assert_eq!(c.bus_coords.get("650"), Some(&(3.5, -4.0)));
}

#[test]
fn comments_of_every_kind() {
    let c = read(&format!(
        "{CIRCUIT}! a comment\n// another\nNew Load.a kW=3 ! trailing kW=4\nNew Load.b kW=3 // trailing kW=4\n\
         /* block\nNew Load.hidden\n*/\n   /* one-line block */\nNew Load.c\n"
    ));
    assert_eq!(
        c.loads.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert_eq!(load(&c, "a").kw, 3.0);
}

#[test]
fn quoted_and_bracketed_values() {
    let c = read(&format!(
        "{CIRCUIT}New Transformer.t buses=[a, b] conns='delta wye' kvs=\"12.47 0.48\" kvas={{500 500}} %rs=(1 1)\n"
    ));
    let t = &c.transformers[0];
    assert_eq!(
        (
            t.windings[0].bus.bus.as_str(),
            t.windings[1].bus.bus.as_str()
        ),
        ("a", "b")
    );
    assert_eq!(
        (t.windings[0].conn, t.windings[1].conn),
        (Connection::Delta, Connection::Wye)
    );
    assert_eq!(
        (
            t.windings[0].kv,
            t.windings[1].kv,
            t.windings[1].kva,
            t.windings[0].pct_r
        ),
        (12.47, 0.48, 500.0, 1.0)
    );
}

#[test]
fn lower_triangular_matrices_expand_to_full_symmetric() {
    let c = read(&format!(
        "{CIRCUIT}New LineCode.m nphases=3 rmatrix=(1 | 2 3 | 4 5 6) xmatrix=[1 |2,3| 4 5 6] cmatrix=[1 2 4 | 2 3 5 | 4 5 6]\nNew Line.l linecode=m\n"
    ));
    let ImpedanceData::Matrix { r, x, c_nf } = &c.lines[0].impedance.data else {
        panic!("matrix")
    };
    let full = vec![1.0, 2.0, 4.0, 2.0, 3.0, 5.0, 4.0, 5.0, 6.0];
    assert_eq!((r, x, c_nf), (&full, &full, &full));
}

#[test]
fn in_line_rpn_math() {
    let c = read(&format!("{CIRCUIT}New Transformer.t XHL=(8 1000 /)\n~ wdg=2 Tap=(0.00625 12 * 1 +)\nNew Load.a kW=(2 3 ^) kv=(2 sqrt)\n"));
    assert!((c.transformers[0].xhl - 0.008).abs() < 1e-15);
    assert!((c.transformers[0].windings[1].tap - 1.075).abs() < 1e-15);
    assert_eq!(load(&c, "a").kw, 8.0);
    assert!((load(&c, "a").kv - 2f64.sqrt()).abs() < 1e-15);
    assert_eq!(eval_rpn("1 2 + 3 *"), Ok(9.0));
}

#[test]
fn positional_values_take_the_next_property() {
    // Load's order: phases bus1 kV kW pf …
    let c = read(&format!(
        "{CIRCUIT}New Load.a 1 x.1 0.24 5 0.9\nNew Load.b bus1=y kv=0.48 7\n"
    ));
    let a = load(&c, "a");
    assert_eq!(
        (a.phases, a.bus1.bus.as_str(), a.kv, a.kw, a.pf),
        (1, "x", 0.24, 5.0, 0.9)
    );
    assert_eq!(
        load(&c, "b").kw,
        7.0,
        "a positional value continues after the last named one"
    );
}

#[test]
fn abbreviated_properties_and_commands() {
    let c = read(
        &format!("{CIRCUIT}New Load.a k=5 kW=2\nNew Transformer.t ph=1 wind=3\nRedir\n")
            .replace("Redir\n", "calcv\n"),
    );
    assert_eq!(
        load(&c, "a").kv,
        5.0,
        "`k` is kV, the first property starting with k"
    );
    assert_eq!(
        (c.transformers[0].phases, c.transformers[0].windings.len()),
        (1, 3)
    );
    assert!(c.calc_voltage_bases);
}

#[test]
fn like_copies_everything_then_overrides() {
    let c = read(&format!(
        "{CIRCUIT}New Load.a phases=1 bus1=x.2 kv=0.24 kW=3 kvar=1 model=5 vminpu=0.8\nNew Load.b like=a bus1=y.1\n"
    ));
    let b = load(&c, "b");
    assert_eq!(
        (b.phases, b.kv, b.kw, b.kvar, b.model, b.vminpu),
        (1, 0.24, 3.0, 1.0, 5, 0.8)
    );
    assert_eq!((b.bus1.bus.as_str(), b.location.line), ("y", 3));
    // Like OpenDSS's MakeLike, like= copies data but not connections.
    let c = read(&format!("{CIRCUIT}New Load.a bus1=x.1 kW=3\nNew Load.c like=a\nNew Line.l bus1=p bus2=q\nNew Line.m like=l\n"));
    assert_eq!(
        (load(&c, "c").bus1.bus.as_str(), load(&c, "c").kw),
        ("c_1", 3.0)
    );
    assert_eq!(
        (c.lines[1].bus1.bus.as_str(), c.lines[1].bus2.bus.as_str()),
        ("m_1", "m_2")
    );
}

#[test]
fn winding_sequencing_and_arrays() {
    let c = read(&format!(
        "{CIRCUIT}New Transformer.t phases=3 windings=3 XHL=1 XHT=2 XLT=3\n\
         ~ wdg=1 bus=a conn=delta kv=115 kva=5000 %r=0.5\n\
         ~ wdg=2 bus=b conn=wye kv=12.47 kva=4000 %r=0.6 rneut=0 xneut=1\n\
         ~ wdg=3 bus=c kv=4.16 kva=1000 tap=1.05 maxtap=1.2 mintap=0.8 numtaps=16\n"
    ));
    let t = &c.transformers[0];
    let w = &t.windings;
    assert_eq!(
        (w[0].conn, w[0].kv, w[0].kva, w[0].pct_r),
        (Connection::Delta, 115.0, 5000.0, 0.5)
    );
    assert_eq!(
        (w[1].kv, w[1].kva, w[1].pct_r, w[1].rneut, w[1].xneut),
        (12.47, 4000.0, 0.6, 0.0, 1.0)
    );
    assert_eq!(
        (
            w[2].kv,
            w[2].kva,
            w[2].tap,
            w[2].max_tap,
            w[2].min_tap,
            w[2].num_taps
        ),
        (4.16, 1000.0, 1.05, 1.2, 0.8, 16)
    );
    assert_eq!((w[0].rneut, w[0].max_tap, w[0].num_taps), (-1.0, 1.1, 32));
    assert_eq!((t.xhl, t.xht, t.xlt), (1.0, 2.0, 3.0));
    assert_eq!(t.xsc, vec![1.0, 2.0, 3.0]);
}

#[test]
fn transformer_defaults_and_percent_load_loss() {
    let c = read(&format!("{CIRCUIT}New Transformer.d\nNew Transformer.l %loadloss=1 %noloadloss=0.1 %imag=0.5 ppm=0 sub=yes\n"));
    let d = &c.transformers[0];
    assert_eq!(
        (
            d.phases,
            d.windings.len(),
            d.xhl,
            d.xht,
            d.xlt,
            d.ppm_antifloat
        ),
        (3, 2, 7.0, 35.0, 30.0, 1.0)
    );
    let w = &d.windings[0];
    assert_eq!(
        (w.kv, w.kva, w.pct_r, w.tap, w.min_tap, w.max_tap, w.num_taps, w.conn),
        (12.47, 1000.0, 0.2, 1.0, 0.9, 1.1, 32, Connection::Wye)
    );
    assert_eq!(
        (w.bus.bus.as_str(), d.windings[1].bus.bus.as_str()),
        ("d_1", "d_2")
    );
    let l = &c.transformers[1];
    assert_eq!(
        (
            l.windings[0].pct_r,
            l.windings[1].pct_r,
            l.pct_noload_loss,
            l.pct_imag,
            l.ppm_antifloat,
            l.sub
        ),
        (0.5, 0.5, 0.1, 0.5, 0.0, true)
    );
}

#[test]
fn switch_side_effects_depend_on_order() {
    let c = read(&format!(
        "{CIRCUIT}New Line.a switch=y r1=1e-4\nNew Line.b r1=1e-4 length=3 units=ft switch=y\nNew Line.c switch=n\n"
    ));
    let seq = |l: &Line| match l.impedance.data {
        ImpedanceData::Sequence {
            r1,
            x1,
            r0,
            x0,
            c1_nf,
            c0_nf,
        } => (r1, x1, r0, x0, c1_nf, c0_nf),
        _ => panic!("sequence"),
    };
    assert_eq!(seq(&c.lines[0]), (1e-4, 1.0, 1.0, 1.0, 1.1, 1.0));
    assert_eq!(seq(&c.lines[1]), (1.0, 1.0, 1.0, 1.0, 1.1, 1.0));
    assert_eq!(
        (c.lines[1].length, c.lines[1].length_units),
        (0.001, LengthUnit::None)
    );
    assert!(c.lines[0].switch && !c.lines[2].switch);
    assert_eq!(
        seq(&c.lines[2]),
        (0.058, 0.1206, 0.1784, 0.4047, 3.4, 1.6),
        "line defaults"
    );
    assert_eq!(
        (
            c.lines[2].length,
            c.lines[2].phases,
            c.lines[2].normamps,
            c.lines[2].emergamps
        ),
        (1.0, 3, 400.0, 600.0)
    );
}

#[test]
fn line_codes_expand_into_lines_and_later_properties_override() {
    let c = read(&format!(
        "{CIRCUIT}New LineCode.c nphases=2 r1=0.3 x1=0.6 r0=0.9 x0=1.8 c1=10 c0=5 units=mi normamps=250\n\
         New Line.a bus1=x.1.2 bus2=y.1.2 linecode=c length=2 units=kft\n\
         New Line.b linecode=c length=2 units=kft x1=0.9 normamps=100\n"
    ));
    let a = &c.lines[0];
    assert_eq!(
        (
            a.phases,
            a.length,
            a.length_units,
            a.impedance.units,
            a.normamps
        ),
        (2, 2.0, LengthUnit::Kft, LengthUnit::Mi, 250.0)
    );
    assert_eq!(
        a.impedance.data,
        ImpedanceData::Sequence {
            r1: 0.3,
            x1: 0.6,
            r0: 0.9,
            x0: 1.8,
            c1_nf: 10.0,
            c0_nf: 5.0
        }
    );
    let b = &c.lines[1];
    // Giving an impedance directly drops the code and its units (OpenDSS's ResetLengthUnits).
    assert_eq!(
        (
            b.linecode.as_deref(),
            b.length_units,
            b.impedance.units,
            b.normamps
        ),
        (None, LengthUnit::None, LengthUnit::None, 100.0)
    );
    assert_eq!(
        b.impedance.data,
        ImpedanceData::Sequence {
            r1: 0.3,
            x1: 0.9,
            r0: 0.9,
            x0: 1.8,
            c1_nf: 10.0,
            c0_nf: 5.0
        }
    );
}

#[test]
fn enabled_false_and_disable_command() {
    let c = read(&format!("{CIRCUIT}New Load.a enabled=false\nNew Load.b\nDisable Load.b\nNew Load.c enabled=no\nEnable Load.c\n"));
    assert_eq!(
        c.loads.iter().map(|l| l.enabled).collect::<Vec<_>>(),
        [false, false, true]
    );
}

#[test]
fn load_interplay_and_defaults() {
    let c = read(&format!("{CIRCUIT}New Load.d\nNew Load.k kW=100\nNew Load.q kvar=50 kW=100\nNew Load.r kW=100 kvar=50\nNew Load.s kva=100 pf=0.8\n"));
    let d = load(&c, "d");
    assert_eq!(
        (d.phases, d.kv, d.kw, d.pf, d.model, d.conn, d.status),
        (
            3,
            12.47,
            10.0,
            0.88,
            1,
            Connection::Wye,
            LoadStatus::Variable
        )
    );
    assert_eq!(
        (d.vminpu, d.vmaxpu, d.vlowpu, d.cvrwatts, d.cvrvars, d.rneut),
        (0.95, 1.05, 0.5, 1.0, 2.0, -1.0)
    );
    let pf088 = (1.0f64 / (0.88 * 0.88) - 1.0).sqrt();
    // The defaults settled (computed once per process): OpenDSS's formulas, bit for bit.
    assert_eq!(d.kvar, 10.0 * pf088);
    assert!((load(&c, "k").kvar - 100.0 * pf088).abs() < 1e-12);
    assert!(
        (load(&c, "q").kvar - 100.0 * pf088).abs() < 1e-12,
        "kW after kvar: kvar follows the pf again"
    );
    assert_eq!(load(&c, "r").kvar, 50.0);
    assert!((load(&c, "s").kw - 80.0).abs() < 1e-12 && (load(&c, "s").kvar - 60.0).abs() < 1e-9);
}

#[test]
fn load_options() {
    let c = read(&format!(
        "{CIRCUIT}New LoadShape.ls npts=3 mult=[1 2 3]\nNew Load.a conn=delta status=fixed vlowpu=0.4 zipv=(0.1 0.2 0.7 0.1 0.2 0.7 0.5) daily=ls duty=ls growth=g\nNew Load.b status=exempt yearly=default\n"
    ));
    let a = load(&c, "a");
    assert_eq!(
        (a.conn, a.status, a.vlowpu),
        (Connection::Delta, LoadStatus::Fixed, 0.4)
    );
    assert_eq!(a.zipv, Some([0.1, 0.2, 0.7, 0.1, 0.2, 0.7, 0.5]));
    assert_eq!(
        (a.daily.as_deref(), a.yearly.as_deref(), a.duty.as_deref()),
        (Some("ls"), Some("ls"), Some("ls"))
    );
    assert_eq!(load(&c, "b").status, LoadStatus::Exempt);
    assert!(c.ignored.iter().any(|i| i.what.contains("growth")));
}

#[test]
fn capacitor_steps_and_bus2() {
    let c = read(&format!(
        "{CIRCUIT}New Capacitor.d bus1=x\nNew Capacitor.s bus1=x kvar=900 numsteps=3 states=[1 0 1]\nNew Capacitor.r bus1=x bus2=y conn=delta kv=4.16 r=[1] xl=[2]\n"
    ));
    let d = &c.capacitors[0];
    assert_eq!(
        (
            d.kvar.clone(),
            d.kv,
            d.phases,
            d.states.clone(),
            d.bus2.clone()
        ),
        (vec![1200.0], 12.47, 3, vec![1], None)
    );
    let s = &c.capacitors[1];
    assert_eq!(
        (s.kvar.clone(), s.states.clone()),
        (vec![300.0; 3], vec![1, 0, 1])
    );
    let r = &c.capacitors[2];
    assert_eq!(
        (
            r.bus2.as_ref().map(|b| b.bus.as_str()),
            r.conn,
            r.r.clone(),
            r.xl.clone()
        ),
        (Some("y"), Connection::Delta, vec![1.0], vec![2.0])
    );
}

#[test]
fn reactors() {
    let c = read(&format!("{CIRCUIT}New Reactor.k bus1=x phases=1 kv=2.4 kvar=100\nNew Reactor.z bus1=x bus2=y r=0.1 x=0.5 parallel=y rp=100\n"));
    assert!((c.reactors[0].x - 57.6).abs() < 1e-9);
    let z = &c.reactors[1];
    assert_eq!((z.r, z.x, z.parallel, z.rp), (0.1, 0.5, true, Some(100.0)));
}

#[test]
fn regcontrol_properties_and_defaults() {
    let c = read(&format!(
        "{CIRCUIT}New Transformer.t phases=1\nNew RegControl.d transformer=t\n\
         New RegControl.r transformer=t winding=2 vreg=122 band=2 ptratio=20 ctprim=700 R=3 X=9 delay=30 tapdelay=1 maxtapchange=1\n\
         ~ ptphase=max reversible=yes revvreg=121 revband=3 revR=1 revX=2 revThreshold=50 revDelay=10 revNeutral=yes\n\
         ~ tapwinding=1 vlimit=125 bus=b1 inversetime=yes cogen=no ldc_z=5 rev_z=4 remoteptratio=30 tapnum=3 debugtrace=no eventlog=no\n"
    ));
    let d = &c.regcontrols[0];
    assert_eq!(
        (d.winding, d.vreg, d.band, d.ptratio, d.ctprim, d.r, d.x),
        (1, 120.0, 3.0, 60.0, 300.0, 0.0, 0.0)
    );
    assert_eq!(
        (
            d.delay,
            d.tapdelay,
            d.maxtapchange,
            d.reversible,
            d.ptphase,
            d.tapwinding
        ),
        (15.0, 2.0, 16, false, 1, 1)
    );
    let r = &c.regcontrols[1];
    assert_eq!(
        (
            r.winding,
            r.vreg,
            r.band,
            r.ptratio,
            r.ctprim,
            r.r,
            r.x,
            r.delay,
            r.tapdelay,
            r.maxtapchange
        ),
        (2, 122.0, 2.0, 20.0, 700.0, 3.0, 9.0, 30.0, 1.0, 1)
    );
    assert_eq!(
        (
            r.ptphase,
            r.reversible,
            r.revvreg,
            r.revband,
            r.rev_r,
            r.rev_x,
            r.rev_threshold,
            r.rev_delay,
            r.rev_neutral
        ),
        (PHASE_MAX, true, 121.0, 3.0, 1.0, 2.0, 50.0, 10.0, true)
    );
    assert_eq!(
        (
            r.tapwinding,
            r.vlimit,
            r.bus.as_deref(),
            r.inverse_time,
            r.ldc_z,
            r.rev_z,
            r.remote_ptratio,
            r.tapnum
        ),
        (1, 125.0, Some("b1"), true, 5.0, 4.0, 30.0, Some(3))
    );
    let m = read(&format!("{CIRCUIT}New Transformer.t\nNew RegControl.m transformer=Transformer.T ptphase=min winding=2\n"));
    assert_eq!(
        (
            m.regcontrols[0].ptphase,
            m.regcontrols[0].transformer.as_str(),
            m.regcontrols[0].tapwinding
        ),
        (PHASE_MIN, "t", 2)
    );
}

#[test]
fn capcontrol_properties_and_defaults() {
    let c = read(&format!(
        "{CIRCUIT}New Line.l\nNew Capacitor.c bus1=x\nNew CapControl.d element=Line.L capacitor=c\n\
         New CapControl.v element=line.l terminal=2 capacitor=c type=voltage ON=118 OFF=126 delay=60 delayoff=30 deadtime=100\n\
         ~ voltoverride=yes vmax=127 vmin=114 ptratio=100 ctratio=50 ptphase=avg ctphase=2 pctminkvar=40 vbus=b\n"
    ));
    let d = &c.capcontrols[0];
    assert_eq!(
        (d.element.as_str(), d.terminal, d.capacitor.as_str(), d.kind),
        ("line.l", 1, "c", CapControlType::Current)
    );
    assert_eq!(
        (
            d.ptratio,
            d.ctratio,
            d.on_setting,
            d.off_setting,
            d.delay,
            d.delay_off,
            d.dead_time
        ),
        (60.0, 60.0, 300.0, 200.0, 15.0, 15.0, 300.0)
    );
    assert_eq!(
        (d.volt_override, d.vmax, d.vmin, d.ptphase),
        (false, 126.0, 115.0, 1)
    );
    let v = &c.capcontrols[1];
    assert_eq!(
        (
            v.terminal,
            v.kind,
            v.on_setting,
            v.off_setting,
            v.delay,
            v.delay_off,
            v.dead_time
        ),
        (2, CapControlType::Voltage, 118.0, 126.0, 60.0, 30.0, 100.0)
    );
    assert_eq!(
        (
            v.volt_override,
            v.vmax,
            v.vmin,
            v.ptratio,
            v.ctratio,
            v.ptphase,
            v.ctphase,
            v.pct_min_kvar,
            v.vbus.as_deref()
        ),
        (
            true,
            127.0,
            114.0,
            100.0,
            50.0,
            PHASE_AVG,
            2,
            40.0,
            Some("b")
        )
    );
    for (t, kind) in [
        ("kvar", CapControlType::Kvar),
        ("pf", CapControlType::PowerFactor),
        ("time", CapControlType::Time),
    ] {
        let c = read(&format!("{CIRCUIT}New Line.l\nNew Capacitor.c\nNew CapControl.x element=line.l capacitor=c type={t}\n"));
        assert_eq!(c.capcontrols[0].kind, kind);
    }
}

#[test]
fn xfmrcode_expands_at_assignment() {
    let c = read(&format!(
        "{CIRCUIT}New XfmrCode.ct phases=1 windings=3 kvs=[7.2 .12 .12] kvas=[25 25 25] %rs=[0.6 1.2 1.2] xhl=2.04 xht=2.04 xlt=1.36 %noloadloss=.2 %imag=.5\n\
         New Transformer.t xfmrcode=ct buses=[a.1 b.1.0 b.0.2] wdg=1 kv=7.62\n"
    ));
    let t = &c.transformers[0];
    assert_eq!(
        (t.phases, t.windings.len(), t.xfmrcode.as_deref()),
        (1, 3, Some("ct"))
    );
    assert_eq!(
        t.windings.iter().map(|w| w.kv).collect::<Vec<_>>(),
        [7.62, 0.12, 0.12]
    );
    assert_eq!(
        t.windings[2].bus,
        BusRef {
            bus: "b".into(),
            nodes: vec![0, 2]
        }
    );
    assert_eq!(
        (t.xhl, t.xht, t.xlt, t.pct_noload_loss, t.pct_imag),
        (2.04, 2.04, 1.36, 0.2, 0.5)
    );
}

#[test]
fn load_shapes_inline_and_from_files() {
    let mut files = MemoryFiles::new().with(
        "dir/shape.csv",
        "hour,p,q\n1, 0.5, 0.1\n2, 0.75, 0.2\n3, 1.0, 0.3\n",
    );
    files.insert("dir/plain.csv", "0.2\n0.4\n");
    let c = read_with(
        "New LoadShape.a npts=4 interval=0.5 mult=[1 2 3 4] qmult=(4 3 2 1) useactual=yes\n\
         New LoadShape.f npts=3 mult=(file=shape.csv col=2 header=yes) qmult=(file=shape.csv, col=3, header=yes)\n\
         New LoadShape.g mult=(file=plain.csv)\nNew LoadShape.h csvfile=plain.csv minterval=15\n",
        &files,
    );
    assert_eq!(c.loadshapes[0].name, "default");
    assert_eq!(c.loadshapes[0].mult.len(), 24);
    let a = &c.loadshapes[1];
    assert_eq!(
        (
            a.npts,
            a.interval_h,
            a.mult.clone(),
            a.qmult.clone(),
            a.useactual,
            a.pmax
        ),
        (
            4,
            0.5,
            vec![1.0, 2.0, 3.0, 4.0],
            vec![4.0, 3.0, 2.0, 1.0],
            true,
            4.0
        )
    );
    let f = &c.loadshapes[2];
    assert_eq!(
        (f.mult.clone(), f.qmult.clone()),
        (vec![0.5, 0.75, 1.0], vec![0.1, 0.2, 0.3])
    );
    assert_eq!(
        (c.loadshapes[3].npts, c.loadshapes[3].mult.clone()),
        (2, vec![0.2, 0.4])
    );
    assert_eq!(
        (c.loadshapes[4].mult.clone(), c.loadshapes[4].interval_h),
        (vec![0.2, 0.4], 0.25)
    );
}

#[test]
fn binary_load_shape_files() {
    let dir = std::env::temp_dir().join(format!("ogg-dss-shapes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let singles: Vec<u8> = [0.5f32, 1.0, 0.25]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let doubles: Vec<u8> = [0.1f64, 0.2].iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join("p.sng"), singles).expect("write");
    std::fs::write(dir.join("p.dbl"), doubles).expect("write");
    std::fs::write(
        dir.join("m.dss"),
        "New LoadShape.s npts=3 mult=(sngfile=p.sng)\nNew LoadShape.d npts=2 mult=(dblfile=P.DBL)\nNew LoadShape.e sngfile=p.sng\n",
    )
    .expect("write");
    let c = read_file(&dir.join("m.dss")).expect("read");
    assert_eq!(c.loadshapes[1].mult, vec![0.5, 1.0, 0.25]);
    assert_eq!(c.loadshapes[2].mult, vec![0.1, 0.2]);
    assert_eq!(c.loadshapes[3].npts, 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn classes_without_power_flow_effect_are_accepted_and_reported() {
    let c = read(&format!(
        "{CIRCUIT}New Line.l1\nNew EnergyMeter.m1 Line.l1 1\nNew Monitor.v element=line.l1\nShow voltages LN Nodes\nPlot profile\nExport voltages\nInterpolate\nVisualize currents Line.l1\n"
    ));
    let what: Vec<&str> = c.ignored.iter().map(|i| i.what.as_str()).collect();
    assert_eq!(what.len(), 7, "{what:#?}");
    assert!(what[0].starts_with("EnergyMeter.m1"));
    assert!(what[2].contains("Show voltages LN Nodes"));
    assert_eq!(
        c.ignored[6].location,
        Location {
            file: "test.dss".into(),
            line: 9
        }
    );
}

#[test]
fn elements_keep_definition_order_and_redefinition_edits() {
    let c = read(&format!(
        "{CIRCUIT}New Line.a\nNew Load.x\nNew Line.b\nNew Load.x kW=4\n"
    ));
    let order: Vec<(ElementClass, usize)> = c
        .definition_order
        .iter()
        .map(|e| (e.class, e.index))
        .collect();
    assert_eq!(
        order,
        [
            (ElementClass::Vsource, 0),
            (ElementClass::Line, 0),
            (ElementClass::Load, 0),
            (ElementClass::Line, 1)
        ]
    );
    assert_eq!((c.loads.len(), c.loads[0].kw), (1, 4.0));
    assert!(c.ignored.iter().any(|i| i.what.contains("defined again")));
}

#[test]
fn vsource_records_the_last_impedance_form() {
    let c = read(&format!(
        "{CIRCUIT}New Vsource.a bus1=x isc3=5000 isc1=4000\nNew Vsource.b bus1=x r1=1 x1=2 r0=3 x0=4 mvasc3=100\nNew Vsource.c bus1=x basekv=10 basemva=50 puZ1=[0.1 0.2] bus2=y phases=1 angle=-30 frequency=50\n"
    ));
    let v = |n: &str| c.vsources.iter().find(|v| v.name == n).expect(n);
    assert_eq!(
        (v("a").spec, v("a").isc3, v("a").isc1),
        (SourceImpedanceSpec::ShortCircuitCurrent, 5000.0, 4000.0)
    );
    // MVAsc given last: OpenDSS recomputes R1/X1 from it (checked against the engine).
    assert_eq!(
        (v("b").spec, v("b").mvasc3),
        (SourceImpedanceSpec::ShortCircuitMva, 100.0)
    );
    assert!(
        (v("b").r1 - 32.075336411055).abs() < 1e-9 && (v("b").x1 - 128.30134564422).abs() < 1e-9
    );
    let vc = v("c");
    assert_eq!(vc.spec, SourceImpedanceSpec::Impedance);
    assert!(
        (vc.r1 - 0.2).abs() < 1e-12 && (vc.x1 - 0.4).abs() < 1e-12,
        "puZ1 on 10 kV / 50 MVA"
    );
    assert_eq!(
        (
            vc.bus2.as_ref().map(|b| b.bus.as_str()),
            vc.phases,
            vc.angle_deg,
            vc.frequency
        ),
        (Some("y"), 1, -30.0, 50.0)
    );
}

#[test]
fn crlf_and_odd_spacing() {
    let c = read("New Circuit.t\r\n  New   Load.a   kW =  5 ,kvar= 2\r\n\tLoad.a.kv=1\r\n");
    assert_eq!(
        (load(&c, "a").kw, load(&c, "a").kvar, load(&c, "a").kv),
        (5.0, 2.0, 1.0)
    );
}

#[test]
fn reading_ieee_like_script_from_memory() {
    let files = MemoryFiles::new().with("feeder/codes.dss", "New linecode.mtx601 nphases=3 rmatrix=(0.3465 | 0.1560 0.3375 | 0.1580 0.1535 0.3414) units=mi\n");
    let c = read_str(
        "new circuit.x\nredirect codes.dss\nNew Line.650632 Phases=3 Bus1=RG60.1.2.3 Bus2=632.1.2.3 LineCode=mtx601 Length=2000 units=ft\n",
        "feeder/master.dss",
        &files,
    )
    .expect("read");
    assert_eq!(
        c.lines[0].bus1,
        BusRef {
            bus: "rg60".into(),
            nodes: vec![1, 2, 3]
        }
    );
}
