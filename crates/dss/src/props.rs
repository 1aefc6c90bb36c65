//! Property names of each class in OpenDSS's order (DSS C-API 0.14.5,
//! `AllPropertyNames`). The order matters: positional values take the next
//! property, and abbreviations resolve to the first property they start.

pub(crate) const VSOURCE_PROPS: &[&str] = &[
    "bus1",
    "basekv",
    "pu",
    "angle",
    "frequency",
    "phases",
    "mvasc3",
    "mvasc1",
    "x1r1",
    "x0r0",
    "isc3",
    "isc1",
    "r1",
    "x1",
    "r0",
    "x0",
    "scantype",
    "sequence",
    "bus2",
    "z1",
    "z0",
    "z2",
    "puz1",
    "puz0",
    "puz2",
    "basemva",
    "yearly",
    "daily",
    "duty",
    "model",
    "puzideal",
    "spectrum",
    "basefreq",
    "enabled",
    "like",
];

pub(crate) const LINE_PROPS: &[&str] = &[
    "bus1",
    "bus2",
    "linecode",
    "length",
    "phases",
    "r1",
    "x1",
    "r0",
    "x0",
    "c1",
    "c0",
    "rmatrix",
    "xmatrix",
    "cmatrix",
    "switch",
    "rg",
    "xg",
    "rho",
    "geometry",
    "units",
    "spacing",
    "wires",
    "earthmodel",
    "cncables",
    "tscables",
    "b1",
    "b0",
    "seasons",
    "ratings",
    "linetype",
    "normamps",
    "emergamps",
    "faultrate",
    "pctperm",
    "repair",
    "basefreq",
    "enabled",
    "like",
];

pub(crate) const LINECODE_PROPS: &[&str] = &[
    "nphases",
    "r1",
    "x1",
    "r0",
    "x0",
    "c1",
    "c0",
    "units",
    "rmatrix",
    "xmatrix",
    "cmatrix",
    "basefreq",
    "normamps",
    "emergamps",
    "faultrate",
    "pctperm",
    "repair",
    "kron",
    "rg",
    "xg",
    "rho",
    "neutral",
    "b1",
    "b0",
    "seasons",
    "ratings",
    "linetype",
    "like",
];

pub(crate) const TRANSFORMER_PROPS: &[&str] = &[
    "phases",
    "windings",
    "wdg",
    "bus",
    "conn",
    "kv",
    "kva",
    "tap",
    "%r",
    "rneut",
    "xneut",
    "buses",
    "conns",
    "kvs",
    "kvas",
    "taps",
    "xhl",
    "xht",
    "xlt",
    "xscarray",
    "thermal",
    "n",
    "m",
    "flrise",
    "hsrise",
    "%loadloss",
    "%noloadloss",
    "normhkva",
    "emerghkva",
    "sub",
    "maxtap",
    "mintap",
    "numtaps",
    "subname",
    "%imag",
    "ppm_antifloat",
    "%rs",
    "bank",
    "xfmrcode",
    "xrconst",
    "x12",
    "x13",
    "x23",
    "leadlag",
    "wdgcurrents",
    "core",
    "rdcohms",
    "seasons",
    "ratings",
    "normamps",
    "emergamps",
    "faultrate",
    "pctperm",
    "repair",
    "basefreq",
    "enabled",
    "like",
];

pub(crate) const XFMRCODE_PROPS: &[&str] = &[
    "phases",
    "windings",
    "wdg",
    "conn",
    "kv",
    "kva",
    "tap",
    "%r",
    "rneut",
    "xneut",
    "conns",
    "kvs",
    "kvas",
    "taps",
    "xhl",
    "xht",
    "xlt",
    "xscarray",
    "thermal",
    "n",
    "m",
    "flrise",
    "hsrise",
    "%loadloss",
    "%noloadloss",
    "normhkva",
    "emerghkva",
    "maxtap",
    "mintap",
    "numtaps",
    "%imag",
    "ppm_antifloat",
    "%rs",
    "x12",
    "x13",
    "x23",
    "rdcohms",
    "seasons",
    "ratings",
    "like",
];

pub(crate) const LOAD_PROPS: &[&str] = &[
    "phases",
    "bus1",
    "kv",
    "kw",
    "pf",
    "model",
    "yearly",
    "daily",
    "duty",
    "growth",
    "conn",
    "kvar",
    "rneut",
    "xneut",
    "status",
    "class",
    "vminpu",
    "vmaxpu",
    "vminnorm",
    "vminemerg",
    "xfkva",
    "allocationfactor",
    "kva",
    "%mean",
    "%stddev",
    "cvrwatts",
    "cvrvars",
    "kwh",
    "kwhdays",
    "cfactor",
    "cvrcurve",
    "numcust",
    "zipv",
    "%seriesrl",
    "relweight",
    "vlowpu",
    "puxharm",
    "xrharm",
    "spectrum",
    "basefreq",
    "enabled",
    "like",
];

pub(crate) const CAPACITOR_PROPS: &[&str] = &[
    "bus1",
    "bus2",
    "phases",
    "kvar",
    "kv",
    "conn",
    "cmatrix",
    "cuf",
    "r",
    "xl",
    "harm",
    "numsteps",
    "states",
    "normamps",
    "emergamps",
    "faultrate",
    "pctperm",
    "repair",
    "basefreq",
    "enabled",
    "like",
];

pub(crate) const REACTOR_PROPS: &[&str] = &[
    "bus1",
    "bus2",
    "phases",
    "kvar",
    "kv",
    "conn",
    "rmatrix",
    "xmatrix",
    "parallel",
    "r",
    "x",
    "rp",
    "z1",
    "z2",
    "z0",
    "z",
    "rcurve",
    "lcurve",
    "lmh",
    "normamps",
    "emergamps",
    "faultrate",
    "pctperm",
    "repair",
    "basefreq",
    "enabled",
    "like",
];

pub(crate) const REGCONTROL_PROPS: &[&str] = &[
    "transformer",
    "winding",
    "vreg",
    "band",
    "ptratio",
    "ctprim",
    "r",
    "x",
    "bus",
    "delay",
    "reversible",
    "revvreg",
    "revband",
    "revr",
    "revx",
    "tapdelay",
    "debugtrace",
    "maxtapchange",
    "inversetime",
    "tapwinding",
    "vlimit",
    "ptphase",
    "revthreshold",
    "revdelay",
    "revneutral",
    "eventlog",
    "remoteptratio",
    "tapnum",
    "reset",
    "ldc_z",
    "rev_z",
    "cogen",
    "basefreq",
    "enabled",
    "like",
];

pub(crate) const CAPCONTROL_PROPS: &[&str] = &[
    "element",
    "terminal",
    "capacitor",
    "type",
    "ptratio",
    "ctratio",
    "onsetting",
    "offsetting",
    "delay",
    "voltoverride",
    "vmax",
    "vmin",
    "delayoff",
    "deadtime",
    "ctphase",
    "ptphase",
    "vbus",
    "eventlog",
    "usermodel",
    "userdata",
    "pctminkvar",
    "reset",
    "controlsignal",
    "basefreq",
    "enabled",
    "like",
];

pub(crate) const LOADSHAPE_PROPS: &[&str] = &[
    "npts",
    "interval",
    "mult",
    "hour",
    "mean",
    "stddev",
    "csvfile",
    "sngfile",
    "dblfile",
    "action",
    "qmult",
    "useactual",
    "pmax",
    "qmax",
    "sinterval",
    "minterval",
    "pbase",
    "qbase",
    "pmult",
    "pqcsvfile",
    "memorymapping",
    "interpolation",
    "like",
];

pub(crate) const GENERATOR_PROPS: &[&str] = &[
    "phases",
    "bus1",
    "kv",
    "kw",
    "pf",
    "kvar",
    "model",
    "vminpu",
    "vmaxpu",
    "yearly",
    "daily",
    "duty",
    "dispmode",
    "dispvalue",
    "conn",
    "status",
    "class",
    "vpu",
    "maxkvar",
    "minkvar",
    "pvfactor",
    "forceon",
    "kva",
    "mva",
    "xd",
    "xdp",
    "xdpp",
    "h",
    "d",
    "usermodel",
    "userdata",
    "shaftmodel",
    "shaftdata",
    "dutystart",
    "debugtrace",
    "balanced",
    "xrdp",
    "usefuel",
    "fuelkwh",
    "%fuel",
    "%reserve",
    "refuel",
    "dynamiceq",
    "dynout",
    "spectrum",
    "basefreq",
    "enabled",
    "like",
];

pub(crate) const PVSYSTEM_PROPS: &[&str] = &[
    "phases",
    "bus1",
    "kv",
    "irradiance",
    "pmpp",
    "%pmpp",
    "temperature",
    "pf",
    "conn",
    "kvar",
    "kva",
    "%cutin",
    "%cutout",
    "effcurve",
    "p-tcurve",
    "%r",
    "%x",
    "model",
    "vminpu",
    "vmaxpu",
    "balanced",
    "limitcurrent",
    "yearly",
    "daily",
    "duty",
    "tyearly",
    "tdaily",
    "tduty",
    "class",
    "usermodel",
    "userdata",
    "debugtrace",
    "varfollowinverter",
    "dutystart",
    "wattpriority",
    "pfpriority",
    "%pminnovars",
    "%pminkvarmax",
    "kvarmax",
    "kvarmaxabs",
    "kvdc",
    "kp",
    "pitol",
    "safevoltage",
    "safemode",
    "dynamiceq",
    "dynout",
    "controlmode",
    "amplimit",
    "amplimitgain",
    "spectrum",
    "basefreq",
    "enabled",
    "like",
];

pub(crate) const STORAGE_PROPS: &[&str] = &[
    "phases",
    "bus1",
    "kv",
    "conn",
    "kw",
    "kvar",
    "pf",
    "kva",
    "%cutin",
    "%cutout",
    "effcurve",
    "varfollowinverter",
    "kvarmax",
    "kvarmaxabs",
    "wattpriority",
    "pfpriority",
    "%pminnovars",
    "%pminkvarmax",
    "kwrated",
    "%kwrated",
    "kwhrated",
    "kwhstored",
    "%stored",
    "%reserve",
    "state",
    "%discharge",
    "%charge",
    "%effcharge",
    "%effdischarge",
    "%idlingkw",
    "%idlingkvar",
    "%r",
    "%x",
    "model",
    "vminpu",
    "vmaxpu",
    "balanced",
    "limitcurrent",
    "yearly",
    "daily",
    "duty",
    "dispmode",
    "dischargetrigger",
    "chargetrigger",
    "timechargetrig",
    "class",
    "dynadll",
    "dynadata",
    "usermodel",
    "userdata",
    "debugtrace",
    "kvdc",
    "kp",
    "pitol",
    "safevoltage",
    "safemode",
    "dynamiceq",
    "dynout",
    "controlmode",
    "amplimit",
    "amplimitgain",
    "spectrum",
    "basefreq",
    "enabled",
    "like",
];

pub(crate) const XYCURVE_PROPS: &[&str] = &[
    "npts", "points", "yarray", "xarray", "csvfile", "sngfile", "dblfile", "x", "y", "xshift",
    "yshift", "xscale", "yscale", "like",
];

pub(crate) const TSHAPE_PROPS: &[&str] = &[
    "npts",
    "interval",
    "temp",
    "hour",
    "mean",
    "stddev",
    "csvfile",
    "sngfile",
    "dblfile",
    "sinterval",
    "minterval",
    "action",
    "like",
];

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// Hash of a lower-case property name (FNV-1a, 32 bits), for [`PropIndex`].
const fn name_hash(bytes: &[u8]) -> u32 {
    let mut h = FNV_OFFSET;
    let mut i = 0;
    while i < bytes.len() {
        h = (h ^ bytes[i] as u32).wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// An open-addressing table over one class's property names, built at
/// compile time ([`crate::classes::ElementState::PROP_INDEX`]): an exact name
/// is found with one hash and usually one comparison instead of a scan of
/// the class's 20–65 names (every property a statement sets is looked up).
pub(crate) struct PropIndex {
    /// Position + 1 of the name hashing to each slot (0: empty); linear probing.
    slots: [u8; PropIndex::SLOTS],
}

impl PropIndex {
    const SLOTS: usize = 256;

    /// The index of `props` (lower-case names, fewer than 255; the first of
    /// equal names wins, as in a scan).
    pub(crate) const fn new(props: &[&str]) -> Self {
        assert!(props.len() < 255, "a property table has fewer than 255 names");
        let mut slots = [0u8; Self::SLOTS];
        let mut k = 0;
        while k < props.len() {
            let name = props[k].as_bytes();
            let mut slot = name_hash(name) as usize % Self::SLOTS;
            loop {
                let held = slots[slot];
                if held == 0 {
                    slots[slot] = (k + 1) as u8;
                    break;
                }
                if const_bytes_eq(props[held as usize - 1].as_bytes(), name) {
                    break;
                }
                slot = (slot + 1) % Self::SLOTS;
            }
            k += 1;
        }
        PropIndex { slots }
    }
}

const fn const_bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// [`find_property`] through the class's [`PropIndex`] of `props`: the same
/// answer (an exact name first, then the first name in class order that
/// starts with `name`, both case-insensitive). The table's names are lower
/// case, so `name` is compared lower-casing its bytes on the fly (no copy).
pub(crate) fn find_property_indexed(props: &[&str], index: &PropIndex, name: &str) -> Option<usize> {
    let name = name.as_bytes();
    if name.is_empty() {
        return None;
    }
    let mut h = FNV_OFFSET;
    for &b in name {
        h = (h ^ b.to_ascii_lowercase() as u32).wrapping_mul(FNV_PRIME);
    }
    let mut slot = h as usize % PropIndex::SLOTS;
    loop {
        let held = index.slots[slot] as usize;
        if held == 0 {
            break;
        }
        if let Some(p) = props.get(held - 1) {
            let p = p.as_bytes();
            if p.len() == name.len() && p.iter().zip(name).all(|(&a, &b)| a == b.to_ascii_lowercase()) {
                return Some(held - 1);
            }
        }
        slot = (slot + 1) % PropIndex::SLOTS;
    }
    // An abbreviation (OpenDSS accepts any unambiguous-or-first prefix).
    props.iter().position(|p| p.len() >= name.len() && p.as_bytes()[..name.len()].eq_ignore_ascii_case(name))
}

/// Finds a property as OpenDSS does: an exact (case-insensitive) name first,
/// otherwise the first property in class order that starts with `name`. A
/// scan of the table: the reader uses [`find_property_indexed`], the tests
/// this as its reference.
#[cfg(test)]
pub(crate) fn find_property(props: &[&str], name: &str) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    let starts = |p: &str| {
        p.len() >= name.len() && p.as_bytes()[..name.len()].eq_ignore_ascii_case(name.as_bytes())
    };
    props
        .iter()
        .position(|p| p.eq_ignore_ascii_case(name))
        .or_else(|| props.iter().position(|p| starts(p)))
}

pub(crate) const WIREDATA_PROPS: &[&str] = &[
    "rdc",
    "rac",
    "runits",
    "gmrac",
    "gmrunits",
    "radius",
    "radunits",
    "normamps",
    "emergamps",
    "diam",
    "seasons",
    "ratings",
    "capradius",
    "like",
];

pub(crate) const CNDATA_PROPS: &[&str] = &[
    "k",
    "diastrand",
    "gmrstrand",
    "rstrand",
    "epsr",
    "inslayer",
    "diains",
    "diacable",
    "rdc",
    "rac",
    "runits",
    "gmrac",
    "gmrunits",
    "radius",
    "radunits",
    "normamps",
    "emergamps",
    "diam",
    "seasons",
    "ratings",
    "capradius",
    "like",
];

pub(crate) const TSDATA_PROPS: &[&str] = &[
    "diashield",
    "tapelayer",
    "tapelap",
    "epsr",
    "inslayer",
    "diains",
    "diacable",
    "rdc",
    "rac",
    "runits",
    "gmrac",
    "gmrunits",
    "radius",
    "radunits",
    "normamps",
    "emergamps",
    "diam",
    "seasons",
    "ratings",
    "capradius",
    "like",
];

pub(crate) const LINESPACING_PROPS: &[&str] = &["nconds", "nphases", "x", "h", "units", "like"];

pub(crate) const LINEGEOMETRY_PROPS: &[&str] = &[
    "nconds",
    "nphases",
    "cond",
    "wire",
    "x",
    "h",
    "units",
    "normamps",
    "emergamps",
    "reduce",
    "spacing",
    "wires",
    "cncable",
    "tscable",
    "cncables",
    "tscables",
    "seasons",
    "ratings",
    "linetype",
    "like",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// `find_property` relies on every name being lower-case and non-empty.
    #[test]
    fn property_names_are_lower_case() {
        let tables: [&[&str]; 21] = [
            VSOURCE_PROPS,
            LINE_PROPS,
            LINECODE_PROPS,
            TRANSFORMER_PROPS,
            XFMRCODE_PROPS,
            LOAD_PROPS,
            CAPACITOR_PROPS,
            REACTOR_PROPS,
            REGCONTROL_PROPS,
            CAPCONTROL_PROPS,
            LOADSHAPE_PROPS,
            GENERATOR_PROPS,
            PVSYSTEM_PROPS,
            STORAGE_PROPS,
            XYCURVE_PROPS,
            TSHAPE_PROPS,
            WIREDATA_PROPS,
            CNDATA_PROPS,
            TSDATA_PROPS,
            LINESPACING_PROPS,
            LINEGEOMETRY_PROPS,
        ];
        for table in tables {
            for name in table {
                assert!(!name.is_empty() && name.to_ascii_lowercase() == *name, "`{name}`");
            }
        }
        assert_eq!(find_property(LINE_PROPS, "LineCode"), Some(2));
        // The indexed lookup gives the scan's answer for every name, its
        // upper-case form, every prefix (abbreviations) and unknown names.
        for table in tables {
            let index = PropIndex::new(table);
            for name in table {
                let mut probes = vec![name.to_string(), name.to_ascii_uppercase(), format!("{name}x")];
                probes.extend((1..name.len()).map(|k| name[..k].to_string()));
                for probe in probes {
                    assert_eq!(find_property_indexed(table, &index, &probe), find_property(table, &probe), "`{probe}`");
                }
            }
            assert_eq!(find_property_indexed(table, &index, ""), None);
            assert_eq!(find_property_indexed(table, &index, "zzzz"), None);
            let long = "a".repeat(40);
            assert_eq!(find_property_indexed(table, &index, &long), find_property(table, &long));
        }
        assert_eq!(find_property(LOAD_PROPS, "K"), find_property(LOAD_PROPS, "kv"));
    }
}
