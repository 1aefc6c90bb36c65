//! Bad input gives a `ReadError` naming the file and line (and the element and
//! property where there is one), never a panic.

use ogg_dss::{read_str, MemoryFiles, ReadError};

fn error(script: &str) -> ReadError {
    match read_str(script, "bad.dss", &MemoryFiles::new()) {
        Ok(_) => panic!("expected an error for:\n{script}"),
        Err(e) => e,
    }
}

fn assert_message(script: &str, expected_prefix: &str, contains: &[&str]) {
    let e = error(script);
    let text = e.to_string();
    assert!(
        text.starts_with(expected_prefix),
        "`{text}` should start with `{expected_prefix}`"
    );
    for part in contains {
        assert!(text.contains(part), "`{text}` should mention `{part}`");
    }
}

const C: &str = "New Circuit.t\n";

#[test]
fn unknown_class() {
    assert_message(
        &format!("{C}\nNew Lime.l1 bus1=a\n"),
        "bad.dss:3: ",
        &["unknown class `Lime`"],
    );
}

#[test]
fn unsupported_class_is_named() {
    assert_message(
        &format!("{C}New InvControl.i1 mode=voltvar\n"),
        "bad.dss:2: invcontrol.i1: ",
        &["not supported"],
    );
}

#[test]
fn unknown_property() {
    let e = error(&format!("{C}New Load.a kW=1 kwatts=5\n"));
    assert_eq!(e.location.line, 2);
    assert_eq!(e.element.as_deref(), Some("load.a"));
    assert_eq!(
        e.to_string(),
        "bad.dss:2: load.a: unknown property `kwatts` for class Load"
    );
}

#[test]
fn bad_number_names_element_and_property() {
    assert_message(
        &format!("{C}New Load.x kW=abc\n"),
        "bad.dss:2: load.x: ",
        &["kw=abc", "not a number"],
    );
    assert_message(
        &format!("{C}New Line.l length=(1 2 foo)\n"),
        "bad.dss:2: line.l: ",
        &["length", "foo"],
    );
    assert_message(
        &format!("{C}New Load.x model=9\n"),
        "bad.dss:2: load.x: ",
        &["model"],
    );
    assert_message(
        &format!("{C}New Load.x phases=0\n"),
        "bad.dss:2: load.x: ",
        &["phases"],
    );
    assert_message(
        &format!("{C}New Load.x conn=zigzag\n"),
        "bad.dss:2: load.x: ",
        &["conn"],
    );
    assert_message(
        &format!("{C}New Line.x bus1=a.b\n"),
        "bad.dss:2: line.x: ",
        &["bus1"],
    );
    assert_message(
        &format!("{C}New LineCode.m nphases=2 rmatrix=[1 2 3]\n"),
        "bad.dss:2: linecode.m: ",
        &["rmatrix", "row 1"],
    );
}

#[test]
fn missing_redirect_file() {
    assert_message(
        &format!("{C}! x\nRedirect nowhere.dss\n"),
        "bad.dss:3: ",
        &["nowhere.dss"],
    );
    assert_message(
        &format!("{C}BusCoords nowhere.csv\n"),
        "bad.dss:2: ",
        &["nowhere.csv"],
    );
}

#[test]
fn errors_inside_included_files_name_that_file() {
    let files = MemoryFiles::new().with("sub/inner.dss", "\n\nNew Load.z kW=x\n");
    let e = read_str(&format!("{C}Redirect sub/inner.dss\n"), "outer.dss", &files).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sub/inner.dss:3: load.z: kw=x: `x` is not a number"
    );
}

#[test]
fn redirect_loops_are_stopped() {
    let files = MemoryFiles::new()
        .with("a.dss", "Redirect b.dss\n")
        .with("b.dss", "Redirect a.dss\n");
    let e = read_str("Redirect a.dss\n", "main.dss", &files).unwrap_err();
    assert!(e.message.contains("deep"), "{e}");
}

#[test]
fn unterminated_quote_and_comment() {
    assert_message(
        &format!("{C}New Transformer.t kvs=[1 2\n"),
        "bad.dss:2: ",
        &["unterminated quote"],
    );
    assert_message(
        &format!("{C}New Load.a bus1=\"x\n"),
        "bad.dss:2: ",
        &["unterminated quote"],
    );
    assert_message(
        &format!("{C}New Load.a\n/* open\nNew Load.b\n"),
        "bad.dss:3: ",
        &["unterminated block comment"],
    );
}

#[test]
fn edit_of_a_missing_element() {
    assert_message(
        &format!("{C}Edit Load.ghost kW=1\n"),
        "bad.dss:2: load.ghost: ",
        &["no such element"],
    );
    assert_message(
        &format!("{C}Load.ghost.kW=1\n"),
        "bad.dss:2: load.ghost: ",
        &["no such element"],
    );
    assert_message(
        &format!("{C}~ kW=1\n").replace(C, ""),
        "bad.dss:1: ",
        &["continues nothing"],
    );
}

#[test]
fn unknown_commands_and_set_options() {
    assert_message(
        &format!("{C}Frobnicate now\n"),
        "bad.dss:2: ",
        &["unknown command `Frobnicate`"],
    );
    assert_message(
        &format!("{C}Set frobnicate=1\n"),
        "bad.dss:2: ",
        &["unknown option `frobnicate`"],
    );
    assert_message(
        &format!("{C}Set cktmodel=positive\n"),
        "bad.dss:2: ",
        &["not supported"],
    );
    assert_message(
        &format!("{C}Set controlmode=sometimes\n"),
        "bad.dss:2: ",
        &["controlmode"],
    );
    assert_message(
        &format!("{C}Set tolerance\n"),
        "bad.dss:2: ",
        &["option=value"],
    );
    assert_message(
        &format!("{C}Open Line.x 1\n"),
        "bad.dss:2: ",
        &["not supported"],
    );
}

#[test]
fn references_to_undefined_things() {
    assert_message(
        &format!("{C}New Line.l linecode=nope\n"),
        "bad.dss:2: line.l: ",
        &["line code `nope`"],
    );
    assert_message(
        &format!("{C}New Transformer.t xfmrcode=nope\n"),
        "bad.dss:2: transformer.t: ",
        &["XfmrCode `nope`"],
    );
    assert_message(
        &format!("{C}New Load.a daily=nope\n"),
        "bad.dss:2: load.a: ",
        &["load shape `nope`"],
    );
    assert_message(
        &format!("{C}New Load.a like=nope\n"),
        "bad.dss:2: load.a: ",
        &["like=nope"],
    );
    assert_message(
        &format!("{C}New Load.a like=a\n"),
        "bad.dss:2: load.a: ",
        &["itself"],
    );
    assert_message(
        &format!("{C}New RegControl.r transformer=nope\n"),
        "bad.dss:2: regcontrol.r: ",
        &["transformer `nope`"],
    );
    assert_message(
        &format!("{C}New CapControl.c element=line.x capacitor=nope\n"),
        "bad.dss:2: capcontrol.c: ",
        &["capacitor `nope`"],
    );
}

#[test]
fn elements_need_a_circuit_first() {
    assert_message("New Load.a kW=1\n", "bad.dss:1: load.a: ", &["New Circuit"]);
}

#[test]
fn too_many_positional_values() {
    // `like` is Load's last property; a value after it has nowhere to go.
    assert_message(
        &format!("{C}New Load.y\nNew Load.x like=y 5\n"),
        "bad.dss:3: load.x: ",
        &["no property is left"],
    );
}

#[test]
fn wdg_out_of_range() {
    assert_message(
        &format!("{C}New Transformer.t wdg=3\n"),
        "bad.dss:2: transformer.t: ",
        &["wdg=3"],
    );
}

#[test]
fn error_is_a_std_error() {
    let e: Box<dyn std::error::Error> = Box::new(error("Frob\n"));
    assert!(e.to_string().starts_with("bad.dss:1: "));
}

#[test]
fn cable_data_errors_are_located() {
    // An incomplete concentric-neutral cable is reported when a line uses it.
    assert_message(
        &format!(
            "{C}New CNData.cn k=13 diastrand=0.0641 rstrand=14.87 runits=mi\n\
             ~ rac=0.41 gmrac=0.0171 gmrunits=ft diam=0.567 radunits=in\n\
             New LineGeometry.g nconds=1 nphases=1 cond=1 cncable=cn x=0 h=-4\n\
             New Line.l1 bus1=a.1 bus2=b.1 geometry=g length=1\n"
        ),
        "bad.dss:5: line.l1: ",
        &["cndata.cn", "inslayer"],
    );
    assert_message(
        &format!("{C}New CNData.cn k=1\n"),
        "bad.dss:2: cndata.cn: ",
        &["k=1"],
    );
    assert_message(
        &format!("{C}New LineGeometry.g nconds=1 nphases=1 cond=1 tscable=none x=0 h=-4\n"),
        "bad.dss:2: linegeometry.g: ",
        &["tsdata `none` is not defined"],
    );
    assert_message(
        &format!("{C}New CNData.cn k=2\nNew LineGeometry.g nconds=1 nphases=1 cncables=[cn]\n"),
        "bad.dss:3: linegeometry.g: ",
        &["cncables", "cond="],
    );
    assert_message(
        &format!("{C}New CNData.cn k=2\nNew Line.l1 bus1=a bus2=b cncables=[cn cn cn]\n"),
        "bad.dss:3: line.l1: ",
        &["spacing", "cncables"],
    );
}

#[test]
fn der_errors_name_the_element_and_property() {
    assert_message(
        &format!("{C}New Generator.g1 kW=5 kwatts=3\n"),
        "bad.dss:2: generator.g1: ",
        &["unknown property `kwatts`"],
    );
    assert_message(
        &format!("{C}New PVSystem.pv pmpp=lots\n"),
        "bad.dss:2: pvsystem.pv: ",
        &["pmpp=lots", "not a number"],
    );
    assert_message(
        &format!("{C}New Storage.s kwrated=5 daily=nosuch\n"),
        "bad.dss:2: storage.s: ",
        &["daily=nosuch", "not defined"],
    );
    assert_message(
        &format!("{C}New Generator.g1 model=6\n"),
        "bad.dss:2: generator.g1: ",
        &["model 6", "not supported"],
    );
    assert_message(
        &format!("{C}New Storage.s dynadll=x.dll\n"),
        "bad.dss:2: storage.s: ",
        &["dynadll", "not supported"],
    );
}
