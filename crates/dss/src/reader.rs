//! Runs a script statement by statement, as OpenDSS's executive does, and
//! collects the resulting circuit.

use crate::classes::*;
use crate::ders::*;
use crate::error::ReadError;
use crate::files::FileSource;
use crate::lexer::{split_line_into, Param, Token};
use crate::line_constants::EarthModel;
use crate::model::*;
use crate::props::find_property_indexed;
use crate::store::Store;
use crate::values;
use crate::wires::{
    CnDataState, LineGeometryState, LineSpacingState, TsDataState, WireDataState, WireStores,
};

/// Nested Redirect/Compile deeper than this is taken as a loop.
const MAX_INCLUDE_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClassId {
    Vsource,
    Line,
    LineCode,
    Transformer,
    XfmrCode,
    Load,
    Capacitor,
    Reactor,
    RegControl,
    CapControl,
    LoadShape,
    WireData,
    CNData,
    TSData,
    LineSpacing,
    LineGeometry,
    Generator,
    PvSystem,
    Storage,
    XyCurve,
    TShape,
}

enum ClassKind {
    Supported(ClassId),
    /// Accepted and recorded in `Circuit::ignored`: no effect on the power flow.
    Ignored(&'static str),
    Unsupported(&'static str),
}

/// Classes with no effect on a power flow: meters, monitors, curves used only by
/// protection, dynamics or harmonics.
pub(crate) const IGNORED_CLASSES: &[&str] = &[
    "EnergyMeter",
    "Monitor",
    "Sensor",
    "Spectrum",
    "GrowthShape",
    "PriceShape",
    "TCC_Curve",
    "Fuse",
    "Relay",
    "Recloser",
];

/// Classes OpenDSS has that change the power flow but this reader does not model.
pub(crate) const UNSUPPORTED_CLASSES: &[&str] = &[
    "Isource",
    "VCCS",
    "Fault",
    "DynamicExp",
    "GenDispatcher",
    "StorageController",
    "SwtControl",
    "UPFC",
    "UPFCControl",
    "ESPVLControl",
    "IndMach012",
    "GICsource",
    "AutoTrans",
    "InvControl",
    "ExpControl",
    "GICLine",
    "GICTransformer",
    "VSConverter",
    "WindGen",
    "Generic5",
    "Equivalent",
];

/// The classes this reader models, by (lower-case) name.
const SUPPORTED_CLASSES: &[(&str, ClassId)] = &[
    ("vsource", ClassId::Vsource),
    ("line", ClassId::Line),
    ("linecode", ClassId::LineCode),
    ("transformer", ClassId::Transformer),
    ("xfmrcode", ClassId::XfmrCode),
    ("load", ClassId::Load),
    ("capacitor", ClassId::Capacitor),
    ("reactor", ClassId::Reactor),
    ("regcontrol", ClassId::RegControl),
    ("capcontrol", ClassId::CapControl),
    ("loadshape", ClassId::LoadShape),
    ("wiredata", ClassId::WireData),
    ("cndata", ClassId::CNData),
    ("tsdata", ClassId::TSData),
    ("linespacing", ClassId::LineSpacing),
    ("linegeometry", ClassId::LineGeometry),
    ("generator", ClassId::Generator),
    ("pvsystem", ClassId::PvSystem),
    ("storage", ClassId::Storage),
    ("xycurve", ClassId::XyCurve),
    ("tshape", ClassId::TShape),
];

/// Class names are matched exactly (ignoring case), without abbreviations.
fn class_kind(name: &str) -> Option<ClassKind> {
    // Every statement names a class: the name is lower-cased once (on the
    // stack) and compared as bytes, lengths first, instead of a case-blind
    // comparison per table entry.
    let mut lower = [0u8; 16];
    if let Some(buf) = lower.get_mut(..name.len()) {
        buf.copy_from_slice(name.as_bytes());
        buf.make_ascii_lowercase();
        if let Some((_, id)) = SUPPORTED_CLASSES.iter().find(|(c, _)| c.as_bytes() == &*buf) {
            return Some(ClassKind::Supported(*id));
        }
    }
    if let Some(c) = IGNORED_CLASSES
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
    {
        return Some(ClassKind::Ignored(c));
    }
    if let Some(c) = UNSUPPORTED_CLASSES
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
    {
        return Some(ClassKind::Unsupported(c));
    }
    None
}

/// OpenDSS's command list in its own order (abbreviations resolve to the
/// first command they start).
const COMMANDS: &[&str] = &[
    "new",
    "edit",
    "more",
    "m",
    "~",
    "select",
    "save",
    "show",
    "solve",
    "enable",
    "disable",
    "plot",
    "reset",
    "compile",
    "set",
    "dump",
    "open",
    "close",
    "//",
    "redirect",
    "help",
    "quit",
    "?",
    "next",
    "panel",
    "sample",
    "clear",
    "about",
    "calcvoltagebases",
    "setkvbase",
    "buildy",
    "get",
    "init",
    "export",
    "fileedit",
    "voltages",
    "currents",
    "powers",
    "seqvoltages",
    "seqcurrents",
    "seqpowers",
    "losses",
    "phaselosses",
    "cktlosses",
    "allocateloads",
    "formedit",
    "totals",
    "capacity",
    "classes",
    "userclasses",
    "zsc",
    "zsc10",
    "zscrefresh",
    "ysc",
    "puvoltages",
    "varvalues",
    "varnames",
    "buscoords",
    "makebuslist",
    "makeposseq",
    "reduce",
    "interpolate",
    "alignfile",
    "top",
    "rotate",
    "vdiff",
    "summary",
    "distribute",
    "di_plot",
    "comparecases",
    "yearlycurves",
    "cd",
    "visualize",
    "closedi",
    "doscmd",
    "estimate",
    "reconductor",
    "_initsnap",
    "_solvenocontrol",
    "_samplecontrols",
    "_docontrolactions",
    "_showcontrolqueue",
    "_solvedirect",
    "_solvepflow",
    "addbusmarker",
    "uuids",
    "setloadandgenkv",
    "cvrtloadshapes",
    "nodediff",
    "rephase",
    "setbusxy",
    "updatestorage",
    "obfuscate",
    "latlongcoords",
    "batchedit",
    "pstcalc",
    "variable",
    "reprocessbuses",
    "clearbusmarkers",
    "relcalc",
    "var",
    "cleanup",
    "finishtimestep",
    "nodelist",
    "connect",
    "disconnect",
    "remove",
    "calcincmatrix",
    "calcincmatrix_o",
    "refine_buslevels",
    "calclaplacian",
    "exportoverloads",
    "exportvviolations",
    "zsc012",
    "allpceatbus",
    "allpdeatbus",
    "totalpowers",
    "giscoords",
    "clearall",
    "comhelp",
    "newactor",
    "wait",
    "solveall",
    "abort",
    "clone",
];

/// Commands that change the circuit in ways this reader does not reproduce.
pub(crate) const UNSUPPORTED_COMMANDS: &[&str] = &[
    "open",
    "close",
    "cd",
    "setkvbase",
    "allocateloads",
    "makeposseq",
    "reduce",
    "rotate",
    "reconductor",
    "rephase",
    "setloadandgenkv",
    "cvrtloadshapes",
    "batchedit",
    "variable",
    "var",
    "connect",
    "disconnect",
    "remove",
    "select",
    "next",
    "newactor",
    "clone",
    "solveall",
    "distribute",
    "estimate",
    "obfuscate",
    "reprocessbuses",
    "updatestorage",
    "_solvenocontrol",
    "_solvedirect",
    "_solvepflow",
    "_docontrolactions",
    "_samplecontrols",
    "_initsnap",
    "finishtimestep",
    "cleanup",
    "init",
    "reset",
    "alignfile",
];

/// `Set` options that only affect reports, plots, markers or logging.
pub(crate) const IGNORED_OPTIONS: &[&str] = &[
    "marktransformers",
    "markswitches",
    "markcapacitors",
    "markregulators",
    "markpvsystems",
    "markstorage",
    "markfuses",
    "markreclosers",
    "markrelays",
    "markercode",
    "switchmarkercode",
    "transmarkercode",
    "capmarkercode",
    "regmarkercode",
    "pvmarkercode",
    "storemarkercode",
    "fusemarkercode",
    "reclosermarkercode",
    "relaymarkercode",
    "transmarkersize",
    "capmarkersize",
    "regmarkersize",
    "pvmarkersize",
    "storemarkersize",
    "fusemarkersize",
    "reclosermarkersize",
    "relaymarkersize",
    "nodewidth",
    "daisysize",
    "showexport",
    "editor",
    "log",
    "recorder",
    "casename",
    "demandinterval",
    "diverbose",
    "overloadreport",
    "voltexceptionreport",
    "keeplist",
    "tracecontrol",
    "querylog",
    "registryupdate",
    "eventlogdefault",
    "showreports",
    "sampleenergymeters",
    "processtime",
    "totaltime",
    "steptime",
    "dssvisualizationtool",
    "normvminpu",
    "normvmaxpu",
    "emergvminpu",
    "emergvmaxpu",
    "%normal",
    "ueweight",
    "lossweight",
    "ueregs",
    "lossregs",
    "numcpus",
    "numcores",
    "numactors",
    "activeactor",
    "cpu",
    "actorprogress",
    "parallel",
    "concatenatereports",
    "numanodes",
    "zonelock",
    "datapath",
    "allowduplicates",
    "linetypes",
    "seasonrating",
    "seasonsignal",
    "element",
    "class",
    "object",
    "circuit",
    "bus",
    "terminal",
    "type",
    "addtype",
    "%mean",
    "%stddev",
    "random",
    "ldcurve",
    "pricecurve",
    "cfactors",
    "allocationfactors",
    "numallociterations",
    "markswitches",
    "zmag",
    "defaultdaily",
    "defaultyearly",
    "loadshapeclass",
    "capkvar",
    "genkw",
    "genpf",
    "%growth",
];

/// Every `Set` option OpenDSS knows, in its order (for abbreviations).
const OPTIONS: &[&str] = &[
    "type",
    "element",
    "hour",
    "sec",
    "year",
    "frequency",
    "stepsize",
    "mode",
    "random",
    "number",
    "time",
    "class",
    "object",
    "circuit",
    "editor",
    "tolerance",
    "maxiterations",
    "h",
    "loadmodel",
    "loadmult",
    "normvminpu",
    "normvmaxpu",
    "emergvminpu",
    "emergvmaxpu",
    "%mean",
    "%stddev",
    "ldcurve",
    "%growth",
    "genkw",
    "genpf",
    "capkvar",
    "addtype",
    "allowduplicates",
    "zonelock",
    "ueweight",
    "lossweight",
    "ueregs",
    "lossregs",
    "voltagebases",
    "algorithm",
    "trapezoidal",
    "autobuslist",
    "controlmode",
    "tracecontrol",
    "genmult",
    "defaultdaily",
    "defaultyearly",
    "allocationfactors",
    "cktmodel",
    "pricesignal",
    "pricecurve",
    "terminal",
    "basefrequency",
    "harmonics",
    "maxcontroliter",
    "bus",
    "datapath",
    "keeplist",
    "reduceoption",
    "demandinterval",
    "%normal",
    "diverbose",
    "casename",
    "markercode",
    "nodewidth",
    "log",
    "recorder",
    "overloadreport",
    "voltexceptionreport",
    "cfactors",
    "showexport",
    "numallociterations",
    "defaultbasefrequency",
    "markswitches",
    "switchmarkercode",
    "daisysize",
    "marktransformers",
    "transmarkercode",
    "transmarkersize",
    "loadshapeclass",
    "earthmodel",
    "querylog",
    "markcapacitors",
    "markregulators",
    "markpvsystems",
    "markstorage",
    "capmarkercode",
    "regmarkercode",
    "pvmarkercode",
    "storemarkercode",
    "capmarkersize",
    "regmarkersize",
    "pvmarkersize",
    "storemarkersize",
    "neglectloady",
    "markfuses",
    "fusemarkercode",
    "fusemarkersize",
    "markreclosers",
    "reclosermarkercode",
    "reclosermarkersize",
    "registryupdate",
    "markrelays",
    "relaymarkercode",
    "relaymarkersize",
    "processtime",
    "totaltime",
    "steptime",
    "sampleenergymeters",
    "miniterations",
    "dssvisualizationtool",
    "keepload",
    "zmag",
    "seasonrating",
    "seasonsignal",
    "linetypes",
    "eventlogdefault",
    "longlinecorrection",
    "showreports",
    "numcpus",
    "numcores",
    "numactors",
    "activeactor",
    "cpu",
    "actorprogress",
    "parallel",
    "concatenatereports",
    "numanodes",
];

fn find_command(word: &str) -> Option<&'static str> {
    let starts = |c: &str| {
        c.len() >= word.len() && c.as_bytes()[..word.len()].eq_ignore_ascii_case(word.as_bytes())
    };
    COMMANDS
        .iter()
        .find(|c| c.eq_ignore_ascii_case(word))
        .or_else(|| COMMANDS.iter().find(|c| starts(c)))
        .copied()
}

/// Everything defined so far.
#[derive(Default)]
struct Elements {
    circuit_name: Option<String>,
    vsources: Store<VsourceState>,
    lines: Store<LineState>,
    transformers: Store<TransformerState>,
    loads: Store<LoadState>,
    capacitors: Store<CapacitorState>,
    reactors: Store<ReactorState>,
    regcontrols: Store<RegControlState>,
    capcontrols: Store<CapControlState>,
    generators: Store<GeneratorState>,
    pvsystems: Store<PvSystemState>,
    storages: Store<StorageElemState>,
}

/// Classes that other elements refer to by name.
#[derive(Default)]
struct Codes {
    linecodes: Store<LineCodeState>,
    xfmrcodes: Store<XfmrCodeState>,
    loadshapes: Store<LoadShapeState>,
    wiredata: Store<WireDataState>,
    cndata: Store<CnDataState>,
    tsdata: Store<TsDataState>,
    spacings: Store<LineSpacingState>,
    geometries: Store<LineGeometryState>,
    geometry_rho: std::cell::RefCell<std::collections::HashMap<String, f64>>,
    xycurves: Store<XyCurveState>,
    tshapes: Store<TShapeState>,
}

impl Codes {
    fn new() -> Self {
        let mut codes = Codes::default();
        codes
            .loadshapes
            .insert("default".to_string(), LoadShapeState::builtin_default());
        codes
    }
}

/// The store of each class, in one place for `Reader::create` and
/// `Reader::edit`: `$code!(field)` for classes other elements refer to by
/// name (kept in `Codes`), `$element!(field)` for circuit elements.
macro_rules! by_class {
    ($id:expr, $code:ident, $element:ident) => {
        match $id {
            ClassId::LineCode => $code!(linecodes),
            ClassId::XfmrCode => $code!(xfmrcodes),
            ClassId::LoadShape => $code!(loadshapes),
            ClassId::WireData => $code!(wiredata),
            ClassId::CNData => $code!(cndata),
            ClassId::TSData => $code!(tsdata),
            ClassId::LineSpacing => $code!(spacings),
            ClassId::LineGeometry => $code!(geometries),
            ClassId::XyCurve => $code!(xycurves),
            ClassId::TShape => $code!(tshapes),
            ClassId::Vsource => $element!(vsources),
            ClassId::Line => $element!(lines),
            ClassId::Transformer => $element!(transformers),
            ClassId::Load => $element!(loads),
            ClassId::Capacitor => $element!(capacitors),
            ClassId::Reactor => $element!(reactors),
            ClassId::RegControl => $element!(regcontrols),
            ClassId::CapControl => $element!(capcontrols),
            ClassId::Generator => $element!(generators),
            ClassId::PvSystem => $element!(pvsystems),
            ClassId::Storage => $element!(storages),
        }
    };
}

pub(crate) struct Reader<'a> {
    files: &'a dyn FileSource,
    elements: Elements,
    codes: Codes,
    /// The element `~`/`More` continues.
    active: Option<(ClassId, usize)>,
    options: SolveOptions,
    voltage_bases: Vec<f64>,
    calc_voltage_bases: bool,
    solve_count: usize,
    bus_coords: std::collections::BTreeMap<String, (f64, f64)>,
    ignored: Vec<Ignored>,
    definition_order: Vec<ElementRef>,
    depth: usize,
    /// `Set EarthModel=`: lines created afterwards start with it.
    earth_model: EarthModel,
    /// Progress in the file being read — (bytes left, lines so far, bytes
    /// so far) — for [`lines_left`].
    progress: (usize, usize, usize),
}

/// About how many lines are left in the file being read, from its
/// `progress` (its bytes left at the mean line length so far: counting them
/// would cost a pass over the file), a bound on the elements it can still
/// define. Computed only when a store is full: a division per line or per
/// element cost more than the rest of that bookkeeping.
fn lines_left((bytes_left, lines, bytes_read): (usize, usize, usize)) -> usize {
    bytes_left * lines / bytes_read.max(1) + 1
}

/// Runs the parameters of one statement against one element.
#[allow(clippy::too_many_arguments)]
fn edit_element<T: ElementState>(
    store: &mut Store<T>,
    index: usize,
    params: &[Param],
    location: &Location,
    ctx: &Ctx,
    ignored: &mut Vec<Ignored>,
) -> Result<(), ReadError> {
    // Edited in place (moving a large element out and back cost two copies
    // per statement); `like=` re-borrows the store to read the other one.
    store.items[index].begin_edit();
    // Only needed for messages, so built on demand (no property changes the
    // element's name; `like=` puts it back).
    fn label<T: ElementState>(element: &mut T) -> String {
        format!("{}.{}", T::CLASS, element.name_mut()).to_ascii_lowercase()
    }
    let mut last: Option<usize> = None;
    let result = (|| {
        for param in params {
            macro_rules! full_name {
                () => {
                    label(&mut store.items[index])
                };
            }
            let prop_index = match &param.name {
                Some(name) => find_property_indexed(T::PROPS, &T::PROP_INDEX, name).ok_or_else(|| {
                    ReadError::at_element(
                        location,
                        &full_name!(),
                        format!("unknown property `{name}` for class {}", T::CLASS),
                    )
                })?,
                None => {
                    let next = last.map_or(0, |i| i + 1);
                    if next >= T::PROPS.len() {
                        return Err(ReadError::at_element(
                            location,
                            &full_name!(),
                            format!("value `{}` has no property name and no property is left to take it", param.value.text),
                        ));
                    }
                    next
                }
            };
            last = Some(prop_index);
            let prop = T::PROPS[prop_index];
            if prop == "like" {
                let own_name = store.items[index].name_mut().clone();
                let other_name = param.value.text.trim().to_ascii_lowercase();
                if other_name == own_name {
                    return Err(ReadError::at_element(
                        location,
                        &full_name!(),
                        "like= names the element itself",
                    ));
                }
                let other = store.find(&other_name).ok_or_else(|| {
                    ReadError::at_element(
                        location,
                        &full_name!(),
                        format!("like={other_name}: no {} of that name", T::CLASS),
                    )
                })?;
                let other = store.items[other].clone();
                let element = &mut store.items[index];
                let own_location = element.location_mut().clone();
                let own = std::mem::replace(element, other);
                element.keep_own_connections(&own);
                *element.name_mut() = own_name.clone();
                *element.location_mut() = own_location;
                continue;
            }
            if prop == "basefreq" {
                // Only a base frequency other than the circuit's changes anything
                // (it rescales reactances), and that is not modelled.
                let f = crate::values::number(&param.value).map_err(|m| {
                    ReadError::at_element(
                        location,
                        &full_name!(),
                        format!("basefreq={}: {m}", param.value.text),
                    )
                })?;
                if (f - ctx.base_frequency).abs() > 1e-9 {
                    return Err(ReadError::at_element(
                        location,
                        &full_name!(),
                        format!("basefreq={f} differs from the circuit's base frequency {}: not supported", ctx.base_frequency),
                    ));
                }
                continue;
            }
            match store.items[index].set(prop, &param.value, ctx) {
                Ok(Outcome::Applied) => {}
                Ok(Outcome::Ignored) => ignored.push(Ignored {
                    what: format!(
                        "{}: {prop}={} (no effect on the power flow)",
                        full_name!(),
                        param.value.text
                    ),
                    location: location.clone(),
                }),
                Err(message) => {
                    return Err(ReadError::at_element(
                        location,
                        &full_name!(),
                        format!("{prop}={}: {message}", param.value.text),
                    ))
                }
            }
        }
        Ok(())
    })();
    store.items[index].end_edit();
    result
}

/// Creates (or, for a name already defined, finds) an element; says whether it
/// already existed. `room` is how many more elements the file may still define
/// (its lines left): a store that is full grows by that much at once (never by
/// less than doubling), so a large feeder's element file is stored in one go.
fn new_element<T: ElementState>(
    store: &mut Store<T>,
    name: String,
    location: &Location,
    ctx: &Ctx,
    ignored: &mut Vec<Ignored>,
    room: impl FnOnce() -> usize,
) -> (usize, bool) {
    if let Some(index) = store.find(&name) {
        // OpenDSS warns "Duplicate new element definition … being redefined"
        // and edits the existing element.
        ignored.push(Ignored {
            what: format!(
                "{}.{name}: defined again; the existing element is edited, as OpenDSS does",
                T::CLASS
            ),
            location: location.clone(),
        });
        return (index, true);
    }
    store.reserve_if_full(room);
    let item = T::create(&name, location, ctx);
    (store.insert(name, item), false)
}

impl<'a> Reader<'a> {
    pub(crate) fn new(files: &'a dyn FileSource) -> Self {
        Reader {
            files,
            elements: Elements::default(),
            codes: Codes::new(),
            active: None,
            options: SolveOptions::default(),
            voltage_bases: Vec::new(),
            calc_voltage_bases: false,
            solve_count: 0,
            bus_coords: Default::default(),
            ignored: Vec::new(),
            definition_order: Vec::new(),
            depth: 0,
            earth_model: EarthModel::default(),
            progress: (0, 0, 0),
        }
    }


    /// `Clear`: a new, empty circuit. The ignored-report keeps what came before,
    /// since it describes the script.
    fn clear(&mut self) {
        let base_frequency = self.options.base_frequency;
        self.elements = Elements::default();
        self.codes = Codes::new();
        self.active = None;
        self.options = SolveOptions {
            base_frequency,
            ..SolveOptions::default()
        };
        self.voltage_bases.clear();
        self.calc_voltage_bases = false;
        self.solve_count = 0;
        self.bus_coords.clear();
        self.definition_order.clear();
    }

    fn ignore(&mut self, what: String, location: &Location) {
        self.ignored.push(Ignored {
            what,
            location: location.clone(),
        });
    }

    pub(crate) fn run(&mut self, text: &str, file: &str) -> Result<(), ReadError> {
        let mut block_comment_start: Option<usize> = None;
        // One Location per file, its line updated as we go.
        let mut location = Location {
            file: file.into(),
            line: 0,
        };
        // One parameter buffer for the whole file (the tokens borrow `text`).
        let mut params: Vec<Param> = Vec::with_capacity(16);
        for (i, raw) in crate::lexer::lines(text).enumerate() {
            let line = values::trim(raw);
            if block_comment_start.is_some() {
                if line.contains("*/") {
                    block_comment_start = None;
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("/*") {
                if !rest.contains("*/") {
                    block_comment_start = Some(i + 1);
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            location.line = i + 1;
            let read = (raw.as_ptr() as usize - text.as_ptr() as usize) + raw.len();
            self.progress = (text.len() - read, i + 1, read);
            split_line_into(line, &mut params).map_err(|m| ReadError::new(&location, m))?;
            if !params.is_empty() {
                self.statement(&params, &location)?;
            }
        }
        if let Some(line) = block_comment_start {
            return Err(ReadError::new(
                &Location {
                    file: file.into(),
                    line,
                },
                "unterminated block comment: `/*` without `*/`",
            ));
        }
        Ok(())
    }

    fn statement(&mut self, params: &[Param], location: &Location) -> Result<(), ReadError> {
        let first = &params[0];
        if let Some(name) = &first.name {
            // `Class.name.property=value …`
            if name.contains('.') {
                return self.property_statement(name, &first.value, &params[1..], location);
            }
            return Err(ReadError::new(
                location,
                format!("unknown command `{name}=`"),
            ));
        }
        if first.value.quoted {
            return Err(ReadError::new(
                location,
                format!("unknown command `{}`", first.value.text),
            ));
        }
        let word = first.value.text;
        let Some(command) = find_command(word) else {
            if word.contains('.') {
                return Err(ReadError::new(
                    location,
                    format!("`{word}` needs a property: `{word}.property=value`"),
                ));
            }
            return Err(ReadError::new(
                location,
                format!("unknown command `{word}`"),
            ));
        };
        let args = &params[1..];
        match command {
            "new" => self.new_command(args, location),
            "edit" => self.edit_command(args, location),
            "more" | "m" | "~" => match self.active {
                Some((class, index)) => self.edit(class, index, args, location),
                None => Err(ReadError::new(
                    location,
                    "`~`/More continues nothing: no element was defined before",
                )),
            },
            "set" => self.set_command(args, location),
            "redirect" | "compile" => self.include(args, location),
            "clear" | "clearall" => {
                self.clear();
                Ok(())
            }
            "calcvoltagebases" => {
                self.calc_voltage_bases = true;
                self.build_y();
                Ok(())
            }
            "solve" => {
                self.set_options(args, location)?;
                self.solve_count += 1;
                self.build_y();
                Ok(())
            }
            "buscoords" => self.bus_coords_command(args, location),
            "enable" | "disable" => self.enable_command(command == "enable", args, location),
            "//" => Ok(()),
            _ if UNSUPPORTED_COMMANDS.contains(&command) => Err(ReadError::new(
                location,
                format!("command `{word}` ({command}) is not supported by this reader"),
            )),
            _ => {
                let text: Vec<&str> = params.iter().map(|p| p.value.text).collect();
                self.ignore(
                    format!("command `{}` (no effect on the power flow)", text.join(" ")),
                    location,
                );
                Ok(())
            }
        }
    }

    /// Splits `Class.name` (the name may itself contain dots).
    fn class_and_name<'t>(text: &'t str, location: &Location) -> Result<(&'t str, String), ReadError> {
        // The first `.` by byte (`split_once` goes through a char searcher),
        // the name trimmed once (ASCII fast path, `str::trim`'s result).
        let split = text.bytes().position(|b| b == b'.').map(|dot| (&text[..dot], values::trim(&text[dot + 1..])));
        match split {
            Some((class, name)) if !class.is_empty() && !name.is_empty() => Ok((class, name.to_ascii_lowercase())),
            _ => Err(ReadError::new(
                location,
                format!("expected `Class.name`, got `{text}`"),
            )),
        }
    }

    fn new_command(&mut self, args: &[Param], location: &Location) -> Result<(), ReadError> {
        let Some(first) = args.first() else {
            return Err(ReadError::new(location, "`New` needs `Class.name`"));
        };
        if let Some(name) = &first.name {
            if !name.eq_ignore_ascii_case("object") {
                return Err(ReadError::new(
                    location,
                    format!("`New` needs `Class.name` first, got `{name}=`"),
                ));
            }
        }
        let (class, name) = Self::class_and_name(first.value.text, location)?;
        let rest = &args[1..];
        if class.eq_ignore_ascii_case("circuit") {
            return self.new_circuit(&name, rest, location);
        }
        let kind = class_kind(&class)
            .ok_or_else(|| ReadError::new(location, format!("unknown class `{class}`")))?;
        let id = match kind {
            ClassKind::Supported(id) => id,
            ClassKind::Ignored(c) => {
                self.ignore(
                    format!("{c}.{name} (class has no effect on the power flow)"),
                    location,
                );
                return Ok(());
            }
            ClassKind::Unsupported(c) => {
                return Err(ReadError::at_element(
                    location,
                    &format!("{}.{name}", c.to_ascii_lowercase()),
                    format!("class {c} is not supported by this reader"),
                ))
            }
        };
        let is_code = matches!(
            id,
            ClassId::LineCode
                | ClassId::XfmrCode
                | ClassId::LoadShape
                | ClassId::WireData
                | ClassId::CNData
                | ClassId::TSData
                | ClassId::LineSpacing
                | ClassId::LineGeometry
                | ClassId::XyCurve
                | ClassId::TShape
        );
        if !is_code && self.elements.circuit_name.is_none() {
            return Err(ReadError::at_element(
                location,
                &format!("{class}.{name}").to_ascii_lowercase(),
                "no circuit yet: `New Circuit.name` must come first",
            ));
        }
        let (index, existed) = self.create(id, name, location);
        if !existed {
            self.record_definition(id, index);
        }
        self.active = Some((id, index));
        self.edit(id, index, rest, location)
    }

    fn new_circuit(
        &mut self,
        name: &str,
        args: &[Param],
        location: &Location,
    ) -> Result<(), ReadError> {
        let base_frequency = self.options.base_frequency;
        self.clear();
        self.options.base_frequency = base_frequency;
        self.elements.circuit_name = Some(name.to_string());
        let source = VsourceState::new_source("source", location, "sourcebus", base_frequency);
        let index = self.elements.vsources.insert("source".to_string(), source);
        self.record_definition(ClassId::Vsource, index);
        self.active = Some((ClassId::Vsource, index));
        self.edit(ClassId::Vsource, index, args, location)
    }

    /// Building the system Y (Solve, CalcVoltageBases) settles what OpenDSS
    /// defers until then.
    fn build_y(&mut self) {
        self.elements
            .lines
            .items
            .iter_mut()
            .for_each(LineState::settle);
    }

    /// Notes a newly created circuit element (not a redefinition, not a code).
    fn record_definition(&mut self, id: ClassId, index: usize) {
        let class = match id {
            ClassId::Vsource => ElementClass::Vsource,
            ClassId::Line => ElementClass::Line,
            ClassId::Transformer => ElementClass::Transformer,
            ClassId::Load => ElementClass::Load,
            ClassId::Capacitor => ElementClass::Capacitor,
            ClassId::Reactor => ElementClass::Reactor,
            ClassId::RegControl => ElementClass::RegControl,
            ClassId::CapControl => ElementClass::CapControl,
            ClassId::Generator => ElementClass::Generator,
            ClassId::PvSystem => ElementClass::PvSystem,
            ClassId::Storage => ElementClass::Storage,
            ClassId::LineCode
            | ClassId::XfmrCode
            | ClassId::LoadShape
            | ClassId::WireData
            | ClassId::CNData
            | ClassId::TSData
            | ClassId::LineSpacing
            | ClassId::LineGeometry
            | ClassId::XyCurve
            | ClassId::TShape => return,
        };
        self.definition_order.push(ElementRef { class, index });
    }

    fn lookup(&self, id: ClassId, name: &str) -> Option<usize> {
        match id {
            ClassId::Vsource => self.elements.vsources.find(name),
            ClassId::Line => self.elements.lines.find(name),
            ClassId::LineCode => self.codes.linecodes.find(name),
            ClassId::Transformer => self.elements.transformers.find(name),
            ClassId::XfmrCode => self.codes.xfmrcodes.find(name),
            ClassId::Load => self.elements.loads.find(name),
            ClassId::Capacitor => self.elements.capacitors.find(name),
            ClassId::Reactor => self.elements.reactors.find(name),
            ClassId::RegControl => self.elements.regcontrols.find(name),
            ClassId::CapControl => self.elements.capcontrols.find(name),
            ClassId::LoadShape => self.codes.loadshapes.find(name),
            ClassId::WireData => self.codes.wiredata.find(name),
            ClassId::CNData => self.codes.cndata.find(name),
            ClassId::TSData => self.codes.tsdata.find(name),
            ClassId::LineSpacing => self.codes.spacings.find(name),
            ClassId::LineGeometry => self.codes.geometries.find(name),
            ClassId::Generator => self.elements.generators.find(name),
            ClassId::PvSystem => self.elements.pvsystems.find(name),
            ClassId::Storage => self.elements.storages.find(name),
            ClassId::XyCurve => self.codes.xycurves.find(name),
            ClassId::TShape => self.codes.tshapes.find(name),
        }
    }

    fn find_existing(
        &self,
        class: &str,
        name: &str,
        location: &Location,
    ) -> Result<(ClassId, usize), ReadError> {
        let full = format!("{class}.{name}").to_ascii_lowercase();
        match class_kind(class) {
            Some(ClassKind::Supported(id)) => self
                .lookup(id, name)
                .map(|index| (id, index))
                .ok_or_else(|| {
                    ReadError::at_element(
                        location,
                        &full,
                        "no such element (it must be defined first)",
                    )
                }),
            Some(_) => Err(ReadError::at_element(
                location,
                &full,
                format!("class {class} cannot be edited by this reader"),
            )),
            None => Err(ReadError::new(location, format!("unknown class `{class}`"))),
        }
    }

    fn edit_command(&mut self, args: &[Param], location: &Location) -> Result<(), ReadError> {
        let Some(first) = args.first() else {
            return Err(ReadError::new(location, "`Edit` needs `Class.name`"));
        };
        let (class, name) = Self::class_and_name(first.value.text, location)?;
        if let Some(ClassKind::Ignored(c)) = class_kind(&class) {
            self.ignore(
                format!("Edit {c}.{name} (class has no effect on the power flow)"),
                location,
            );
            return Ok(());
        }
        let (id, index) = self.find_existing(&class, &name, location)?;
        self.active = Some((id, index));
        self.edit(id, index, &args[1..], location)
    }

    /// `Load.671.kW=1155 kvar=660` — set a property, and continue with the rest of the line.
    fn property_statement(
        &mut self,
        path: &str,
        value: &Token,
        rest: &[Param],
        location: &Location,
    ) -> Result<(), ReadError> {
        let (class, name_and_prop) = Self::class_and_name(path, location)?;
        let Some((name, prop)) = name_and_prop.rsplit_once('.') else {
            return Err(ReadError::new(
                location,
                format!("expected `Class.name.property=value`, got `{path}=`"),
            ));
        };
        if let Some(ClassKind::Ignored(c)) = class_kind(&class) {
            self.ignore(
                format!(
                    "{c}.{name}.{prop}={} (class has no effect on the power flow)",
                    value.text
                ),
                location,
            );
            return Ok(());
        }
        let (id, index) = self.find_existing(&class, name, location)?;
        let mut params = Vec::with_capacity(rest.len() + 1);
        params.push(Param {
            name: Some(prop),
            value: *value,
        });
        params.extend_from_slice(rest);
        self.active = Some((id, index));
        self.edit(id, index, &params, location)
    }

    /// `name` (lower-case) becomes the store's key. Returns the element's index
    /// and whether it existed before.
    fn create(&mut self, id: ClassId, name: String, location: &Location) -> (usize, bool) {
        let progress = self.progress;
        let room = move || lines_left(progress).min(1 << 16);
        let (e, c, ig) = (&mut self.elements, &mut self.codes, &mut self.ignored);
        let (frequency, earth) = (self.options.base_frequency, self.earth_model);
        let (files, file) = (self.files, &*location.file);
        // A code class's own store is taken out while it is edited, so the
        // context sees it empty (nothing refers to its own class).
        macro_rules! code {
            ($field:ident) => {{
                let mut store = std::mem::take(&mut c.$field);
                let ctx = ctx_for(c, frequency, earth, files, file);
                let created = new_element(&mut store, name, location, &ctx, ig, room);
                c.$field = store;
                created
            }};
        }
        macro_rules! element {
            ($field:ident) => {{
                let ctx = ctx_for(c, frequency, earth, files, file);
                new_element(&mut e.$field, name, location, &ctx, ig, room)
            }};
        }
        by_class!(id, code, element)
    }

    fn edit(
        &mut self,
        id: ClassId,
        index: usize,
        params: &[Param],
        location: &Location,
    ) -> Result<(), ReadError> {
        let (e, c, ig) = (&mut self.elements, &mut self.codes, &mut self.ignored);
        let (frequency, earth) = (self.options.base_frequency, self.earth_model);
        let (files, file) = (self.files, &*location.file);
        macro_rules! code {
            ($field:ident) => {{
                let mut store = std::mem::take(&mut c.$field);
                let ctx = ctx_for(c, frequency, earth, files, file);
                let result = edit_element(&mut store, index, params, location, &ctx, ig);
                c.$field = store;
                result
            }};
        }
        macro_rules! element {
            ($field:ident) => {{
                let ctx = ctx_for(c, frequency, earth, files, file);
                edit_element(&mut e.$field, index, params, location, &ctx, ig)
            }};
        }
        by_class!(id, code, element)
    }

    fn enable_command(
        &mut self,
        enabled: bool,
        args: &[Param],
        location: &Location,
    ) -> Result<(), ReadError> {
        for arg in args {
            let (class, name) = Self::class_and_name(arg.value.text, location)?;
            if let Some(ClassKind::Ignored(c)) = class_kind(&class) {
                self.ignore(
                    format!("enable/disable {c}.{name} (class has no effect on the power flow)"),
                    location,
                );
                continue;
            }
            let (id, index) = self.find_existing(&class, &name, location)?;
            let e = &mut self.elements;
            let c = &mut self.codes;
            match id {
                ClassId::Vsource => e.vsources.items[index].set_enabled(enabled),
                ClassId::Line => e.lines.items[index].set_enabled(enabled),
                ClassId::Transformer => e.transformers.items[index].set_enabled(enabled),
                ClassId::Load => e.loads.items[index].set_enabled(enabled),
                ClassId::Capacitor => e.capacitors.items[index].set_enabled(enabled),
                ClassId::Reactor => e.reactors.items[index].set_enabled(enabled),
                ClassId::RegControl => e.regcontrols.items[index].set_enabled(enabled),
                ClassId::CapControl => e.capcontrols.items[index].set_enabled(enabled),
                ClassId::LineCode => c.linecodes.items[index].set_enabled(enabled),
                ClassId::XfmrCode => c.xfmrcodes.items[index].set_enabled(enabled),
                ClassId::LoadShape => c.loadshapes.items[index].set_enabled(enabled),
                ClassId::WireData => c.wiredata.items[index].set_enabled(enabled),
                ClassId::CNData => c.cndata.items[index].set_enabled(enabled),
                ClassId::TSData => c.tsdata.items[index].set_enabled(enabled),
                ClassId::LineSpacing => c.spacings.items[index].set_enabled(enabled),
                ClassId::LineGeometry => c.geometries.items[index].set_enabled(enabled),
                ClassId::Generator => e.generators.items[index].set_enabled(enabled),
                ClassId::PvSystem => e.pvsystems.items[index].set_enabled(enabled),
                ClassId::Storage => e.storages.items[index].set_enabled(enabled),
                ClassId::XyCurve => c.xycurves.items[index].set_enabled(enabled),
                ClassId::TShape => c.tshapes.items[index].set_enabled(enabled),
            }
        }
        Ok(())
    }

    fn include(&mut self, args: &[Param], location: &Location) -> Result<(), ReadError> {
        let Some(arg) = args.first() else {
            return Err(ReadError::new(
                location,
                "Redirect/Compile needs a file name",
            ));
        };
        let path = arg.value.text.trim();
        if path.is_empty() {
            return Err(ReadError::new(
                location,
                "Redirect/Compile needs a file name",
            ));
        }
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(ReadError::new(
                location,
                format!("`{path}`: files include each other more than {MAX_INCLUDE_DEPTH} deep"),
            ));
        }
        let (name, content) = self
            .files
            .read(path, &location.file)
            .map_err(|e| ReadError::new(location, format!("cannot read `{path}`: {e}")))?;
        self.depth += 1;
        let result = self.run(&content, &name);
        self.depth -= 1;
        result
    }

    fn bus_coords_command(&mut self, args: &[Param], location: &Location) -> Result<(), ReadError> {
        let Some(arg) = args.first() else {
            return Err(ReadError::new(location, "BusCoords needs a file name"));
        };
        let path = arg.value.text.trim();
        let (name, content) = self
            .files
            .read(path, &location.file)
            .map_err(|e| ReadError::new(location, format!("cannot read `{path}`: {e}")))?;
        let name: std::sync::Arc<str> = name.into();
        for (i, line) in content.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('!') || line.starts_with("//") {
                continue;
            }
            let at = Location {
                file: name.clone(),
                line: i + 1,
            };
            let mut fields = line
                .split(|c: char| c == ',' || c.is_ascii_whitespace())
                .filter(|s| !s.is_empty());
            let (Some(bus), Some(x), Some(y)) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(ReadError::new(&at, "expected `bus, x, y`"));
            };
            let number = |s: &str| {
                crate::rpn::parse_number(s)
                    .ok_or_else(|| ReadError::new(&at, format!("`{s}` is not a number")))
            };
            let (x, y) = (number(x)?, number(y)?);
            self.bus_coords.insert(bus.to_ascii_lowercase(), (x, y));
        }
        Ok(())
    }

    fn set_command(&mut self, args: &[Param], location: &Location) -> Result<(), ReadError> {
        self.set_options(args, location)
    }

    fn set_options(&mut self, args: &[Param], location: &Location) -> Result<(), ReadError> {
        for arg in args {
            let Some(name) = &arg.name else {
                return Err(ReadError::new(
                    location,
                    format!("`{}`: Set needs option=value", arg.value.text),
                ));
            };
            let lower = name.to_ascii_lowercase();
            let option = OPTIONS
                .iter()
                .find(|o| **o == lower)
                .or_else(|| OPTIONS.iter().find(|o| o.starts_with(lower.as_str())))
                .copied()
                .ok_or_else(|| ReadError::new(location, format!("unknown option `{name}`")))?;
            let value = &arg.value;
            let bad = |m: String| ReadError::new(location, format!("{option}={}: {m}", value.text));
            let o = &mut self.options;
            match option {
                "voltagebases" => self.voltage_bases = values::numbers(value).map_err(bad)?,
                "controlmode" => {
                    o.control_mode =
                        match values::keyword(value.text, &["static", "event", "time", "off"]) {
                            Some("static") => ControlMode::Static,
                            Some("event") => ControlMode::Event,
                            Some("time") => ControlMode::Time,
                            Some(_) => ControlMode::Off,
                            None => return Err(bad("expected static, event, time or off".into())),
                        }
                }
                "maxcontroliter" => {
                    o.max_control_iterations = values::count(value, 0, 1_000_000).map_err(bad)?
                }
                "maxiterations" => {
                    o.max_iterations = values::count(value, 1, 1_000_000).map_err(bad)?
                }
                "miniterations" => {
                    o.min_iterations = values::count(value, 0, 1_000_000).map_err(bad)?
                }
                "tolerance" => o.tolerance = values::number(value).map_err(bad)?,
                "loadmult" => o.load_mult = values::number(value).map_err(bad)?,
                "pricesignal" => o.price_signal = values::number(value).map_err(bad)?,
                "genmult" => o.gen_mult = values::number(value).map_err(bad)?,
                "number" => o.number = values::count(value, 0, 1_000_000_000).map_err(bad)?,
                "stepsize" | "h" => o.stepsize_s = duration_seconds(value).map_err(bad)?,
                "defaultbasefrequency" | "basefrequency" => {
                    o.base_frequency = values::number(value).map_err(bad)?
                }
                "hour" => o.start_hour = values::number(value).map_err(bad)?,
                "sec" => {
                    o.start_hour =
                        o.start_hour.trunc() + values::number(value).map_err(bad)? / 3600.0
                }
                "time" => {
                    let v = values::numbers(value).map_err(bad)?;
                    let [h, s] = v.as_slice() else {
                        return Err(bad("expected [hour seconds]".into()));
                    };
                    o.start_hour = h + s / 3600.0;
                }
                "mode" => {
                    o.mode = match values::keyword(
                        value.text,
                        &["snapshot", "snap", "daily", "yearly", "dutycycle", "direct"],
                    ) {
                        Some("snapshot" | "snap" | "direct") => SolutionMode::Snapshot,
                        Some("daily") => SolutionMode::Daily,
                        Some("yearly") => SolutionMode::Yearly,
                        Some(_) => SolutionMode::Duty,
                        None => return Err(bad(
                            "solution mode not supported (snap, direct, daily, yearly, dutycycle)"
                                .into(),
                        )),
                    };
                }
                "algorithm" => {
                    o.algorithm = match values::keyword(value.text, &["normal", "newton"]) {
                        Some("newton") => Algorithm::Newton,
                        Some(_) => Algorithm::Normal,
                        None => return Err(bad("expected normal or newton".into())),
                    };
                }
                "loadmodel" => {
                    if values::keyword(value.text, &["powerflow", "admittance"])
                        != Some("powerflow")
                    {
                        return Err(bad("only loadmodel=powerflow is supported".into()));
                    }
                }
                "year" => {
                    // Growth shapes only act in years after 0.
                    if values::number(value).map_err(bad)? != 0.0 {
                        return Err(bad(
                            "only year=0 is supported (load growth is not modelled)".into(),
                        ));
                    }
                }
                "earthmodel" => self.earth_model = EarthModel::parse(value.text).map_err(bad)?,
                "frequency" => {
                    let f = values::number(value).map_err(bad)?;
                    if (f - o.base_frequency).abs() > 1e-9 {
                        return Err(bad(
                            "solving at a frequency other than the base frequency is not supported"
                                .into(),
                        ));
                    }
                }
                _ if IGNORED_OPTIONS.contains(&option) => {
                    self.ignore(
                        format!("Set {name}={} (no effect on the power flow)", value.text),
                        location,
                    );
                }
                _ => {
                    return Err(ReadError::new(
                        location,
                        format!("option `{name}` ({option}) is not supported by this reader"),
                    ))
                }
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<Circuit, ReadError> {
        let e = &self.elements;
        for reg in &e.regcontrols.items {
            let r = reg.r.as_ref();
            let transformer = r.map(|r| r.transformer.as_str()).unwrap_or("");
            if let (Some(t), Some(r)) = (e.transformers.get(transformer), r) {
                if r.winding > t.windings.len() || r.tapwinding > t.windings.len() {
                    return Err(ReadError::at_element(
                        &reg.location,
                        &format!("regcontrol.{}", reg.name),
                        format!(
                            "winding {} does not exist on transformer `{transformer}`",
                            r.winding.max(r.tapwinding)
                        ),
                    ));
                }
            }
            if e.transformers.find(transformer).is_none() {
                return Err(ReadError::at_element(
                    &reg.location,
                    &format!("regcontrol.{}", reg.name),
                    if transformer.is_empty() {
                        "transformer= is not set".to_string()
                    } else {
                        format!("transformer `{transformer}` is not defined")
                    },
                ));
            }
        }
        for cap in &e.capcontrols.items {
            let c = cap.c.as_ref();
            let capacitor = c.map(|c| c.capacitor.as_str()).unwrap_or("");
            if e.capacitors.find(capacitor).is_none() {
                return Err(ReadError::at_element(
                    &cap.location,
                    &format!("capcontrol.{}", cap.name),
                    format!("capacitor `{capacitor}` is not defined"),
                ));
            }
        }
        // Regulators read their transformer's phases: settled before the
        // transformers move into the model.
        let regcontrols: Vec<RegControl> = e
            .regcontrols
            .items
            .iter()
            .filter_map(|s| {
                let mut r = s.r.clone()?;
                r.name = s.name.clone();
                r.location = s.location.clone();
                r.enabled = s.enabled;
                // OpenDSS samples phase 1 when ptphase exceeds the transformer's phases.
                let phases = e.transformers.get(&r.transformer).map_or(0, |t| t.phases);
                if r.bus.is_none() && r.ptphase > phases as i32 {
                    r.ptphase = 1;
                }
                Some(r)
            })
            .collect();
        let geometry_rho = self.codes.geometry_rho.borrow().clone();
        let lookup = ConstantsLookup {
            wires: WireStores {
                wire: &self.codes.wiredata,
                cn: &self.codes.cndata,
                ts: &self.codes.tsdata,
            },
            spacings: &self.codes.spacings,
            geometries: &self.codes.geometries,
            frequency: self.options.base_frequency,
        };
        // OpenDSS builds the Yprims in circuit order with one global "active"
        // earth model that each line sets. A geometry computes its matrices
        // once, with the model of the first line that uses it (and its final
        // rho, 100 unless a line's rho= was pushed onto it). A spacing line
        // builds a private geometry, first with the model the previous line
        // left active and rho 100, recomputed with its own model only if its
        // rho= changes the resistivity.
        let mut active_model = self.earth_model;
        let mut geometry_choice: std::collections::HashMap<String, EarthChoice> =
            std::collections::HashMap::new();
        // The element states are consumed: their names, buses and matrices
        // move into the model instead of being copied.
        let Elements {
            circuit_name,
            vsources,
            lines: line_states,
            transformers,
            loads,
            capacitors,
            reactors,
            regcontrols: _,
            capcontrols,
            generators,
            pvsystems,
            storages,
        } = self.elements;
        let mut lines = Vec::with_capacity(line_states.items.len());
        for line in line_states.items {
            let earth = match &line.constants {
                Some(ConstantsSource::Geometry(name)) => {
                    active_model = line.earth_model;
                    let rho = geometry_rho.get(name).copied().unwrap_or(100.0);
                    match geometry_choice.get(name.as_str()) {
                        Some(choice) => *choice,
                        None => *geometry_choice.entry(name.clone()).or_insert(EarthChoice {
                            model: active_model,
                            rho,
                        }),
                    }
                }
                Some(ConstantsSource::Spacing { .. }) => {
                    let choice = if line.rho_specified && line.rho != 100.0 {
                        EarthChoice {
                            model: line.earth_model,
                            rho: line.rho,
                        }
                    } else {
                        EarthChoice {
                            model: active_model,
                            rho: 100.0,
                        }
                    };
                    active_model = line.earth_model;
                    choice
                }
                None => EarthChoice {
                    model: active_model,
                    rho: 100.0,
                },
            };
            let constants = line.constants_impedance(&lookup, earth).map_err(|message| {
                ReadError::at_element(&line.location, &format!("line.{}", line.name), message)
            })?;
            lines.push(line.into_model(constants));
        }
        Ok(Circuit {
            name: circuit_name.unwrap_or_default(),
            voltage_bases: self.voltage_bases.clone(),
            calc_voltage_bases: self.calc_voltage_bases,
            solve_count: self.solve_count,
            options: self.options.clone(),
            vsources: vsources.items.iter().map(VsourceState::to_model).collect(),
            lines,
            transformers: transformers
                .items
                .into_iter()
                .map(TransformerState::into_model)
                .collect(),
            loads: loads.items.into_iter().map(LoadState::into_model).collect(),
            capacitors: capacitors
                .items
                .iter()
                .map(CapacitorState::to_model)
                .collect(),
            reactors: reactors.items.iter().map(ReactorState::to_model).collect(),
            regcontrols,
            capcontrols: capcontrols
                .items
                .iter()
                .filter_map(|s| {
                    let mut c = s.c.clone()?;
                    c.name = s.name.clone();
                    c.location = s.location.clone();
                    c.enabled = s.enabled;
                    Some(c)
                })
                .collect(),
            generators: generators
                .items
                .iter()
                .map(GeneratorState::to_model)
                .collect(),
            pvsystems: pvsystems
                .items
                .iter()
                .map(PvSystemState::to_model)
                .collect(),
            storages: storages
                .items
                .iter()
                .map(StorageElemState::to_model)
                .collect(),
            xycurves: self
                .codes
                .xycurves
                .items
                .iter()
                .map(XyCurveState::to_model)
                .collect(),
            tshapes: self
                .codes
                .tshapes
                .items
                .iter()
                .map(TShapeState::to_model)
                .collect(),
            loadshapes: self
                .codes
                .loadshapes
                .items
                .iter()
                .map(LoadShapeState::to_model)
                .collect(),
            bus_coords: self.bus_coords,
            definition_order: self.definition_order,
            ignored: self.ignored,
        })
    }
}

fn ctx_for<'c>(
    codes: &'c Codes,
    base_frequency: f64,
    earth_model: EarthModel,
    files: &'c dyn FileSource,
    file: &'c str,
) -> Ctx<'c> {
    Ctx {
        linecodes: &codes.linecodes,
        xfmrcodes: &codes.xfmrcodes,
        loadshapes: &codes.loadshapes,
        wiredata: &codes.wiredata,
        cndata: &codes.cndata,
        tsdata: &codes.tsdata,
        spacings: &codes.spacings,
        geometries: &codes.geometries,
        earth_model,
        geometry_rho: &codes.geometry_rho,
        base_frequency,
        files,
        file,
    }
}

/// `stepsize=900`, `15m`, `1h`, `30s`: seconds.
fn duration_seconds(value: &Token) -> Result<f64, String> {
    let text = value.text.trim();
    let (number, factor) = match text.chars().last().map(|c| c.to_ascii_lowercase()) {
        Some('h') => (&text[..text.len() - 1], 3600.0),
        Some('m') => (&text[..text.len() - 1], 60.0),
        Some('s') => (&text[..text.len() - 1], 1.0),
        _ => (text, 1.0),
    };
    let v = values::number(&Token {
        text: number,
        quoted: value.quoted,
    })?;
    Ok(v * factor)
}

#[cfg(test)]
mod readme {
    //! The README lists exactly what the code accepts, ignores and refuses.
    use super::*;

    const HANDLED_COMMANDS: &[&str] = &[
        "new",
        "edit",
        "more",
        "m",
        "~",
        "set",
        "redirect",
        "compile",
        "clear",
        "clearall",
        "calcvoltagebases",
        "solve",
        "buscoords",
        "enable",
        "disable",
        "//",
    ];

    fn list(items: &[&str]) -> String {
        items
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(super) fn lists() -> Vec<(&'static str, String)> {
        let ignored_commands: Vec<&str> = COMMANDS
            .iter()
            .copied()
            .filter(|c| !HANDLED_COMMANDS.contains(c) && !UNSUPPORTED_COMMANDS.contains(c))
            .collect();
        let mut ignored_options = IGNORED_OPTIONS.to_vec();
        ignored_options.sort_unstable();
        ignored_options.dedup();
        let unsupported_options: Vec<&str> = OPTIONS
            .iter()
            .copied()
            .filter(|o| {
                !IGNORED_OPTIONS.contains(o)
                    && ![
                        "voltagebases",
                        "controlmode",
                        "maxcontroliter",
                        "maxiterations",
                        "miniterations",
                        "tolerance",
                        "loadmult",
                        "number",
                        "stepsize",
                        "h",
                        "defaultbasefrequency",
                        "basefrequency",
                        "hour",
                        "sec",
                        "time",
                        "mode",
                        "algorithm",
                        "loadmodel",
                        "frequency",
                        "year",
                        "earthmodel",
                        "pricesignal",
                        "genmult",
                    ]
                    .contains(o)
            })
            .collect();
        vec![
            ("Commands handled", list(HANDLED_COMMANDS)),
            ("Commands accepted and ignored", list(&ignored_commands)),
            ("Commands refused", list(UNSUPPORTED_COMMANDS)),
            ("Set options accepted and ignored", list(&ignored_options)),
            ("Set options refused", list(&unsupported_options)),
            ("Classes accepted and ignored", list(IGNORED_CLASSES)),
            ("Classes refused", list(UNSUPPORTED_CLASSES)),
        ]
    }

    #[test]
    fn readme_lists_match_the_code() {
        let readme = include_str!("../README.md");
        for (title, items) in lists() {
            let line = format!("**{title}:** {items}");
            assert!(
                readme.contains(&line),
                "README.md is out of date; it should have the line\n{line}"
            );
        }
    }

    #[test]
    fn print_lists() {
        for (title, items) in lists() {
            println!("**{title}:** {items}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_resolve_whatever_their_case() {
        // `class_kind` compares lower-cased bytes: the table must be lower case and short.
        for (name, id) in SUPPORTED_CLASSES {
            assert!(name.len() <= 16 && *name == name.to_ascii_lowercase(), "{name}");
            assert!(matches!(class_kind(&name.to_ascii_uppercase()), Some(ClassKind::Supported(i)) if i == *id));
        }
        assert!(matches!(class_kind("LineCode"), Some(ClassKind::Supported(ClassId::LineCode))));
        assert!(matches!(class_kind("Fault"), Some(ClassKind::Unsupported(_))));
        assert!(class_kind("averyveryverylongclassname").is_none());
        assert!(class_kind("").is_none());
    }
}
