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

/// Property names up to this long are looked up as two 64-bit words.
const WORD_NAME_MAX: usize = 16;

/// The first 16 bytes of `bytes` as two little-endian words, zero padded.
const fn name_words(bytes: &[u8]) -> [u64; 2] {
    let mut w = [0u64; 2];
    let mut i = 0;
    while i < bytes.len() && i < WORD_NAME_MAX {
        w[i / 8] |= (bytes[i] as u64) << (8 * (i % 8));
        i += 1;
    }
    w
}

/// [`name_words`] of a name of at most 16 bytes, for lookups: whole words
/// loaded at once where there are eight bytes, the rest shifted together in
/// a register (packing bytes into an array in memory and reading it back as
/// words stalled on store forwarding: a third of the lookup's time).
#[inline(always)]
fn load_words(bytes: &[u8]) -> (u64, u64) {
    fn short(tail: &[u8]) -> u64 {
        tail.iter().take(8).enumerate().fold(0, |w, (i, &b)| w | (b as u64) << (8 * i))
    }
    match bytes.split_first_chunk::<8>() {
        Some((head, rest)) => (
            u64::from_le_bytes(*head),
            rest.first_chunk::<8>().map_or_else(|| short(rest), |w| u64::from_le_bytes(*w)),
        ),
        None => (short(bytes), 0),
    }
}

/// ASCII lower case of the eight bytes of `w` at once (other bytes unchanged).
#[inline(always)]
const fn lower_word(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low7 = w & (0x7f * ONES);
    // High bit of each byte: its low seven bits are ≥ 'A', resp. > 'Z' (no carries).
    let at_least_a = low7 + (0x80 - b'A' as u64) * ONES;
    let above_z = low7 + (0x80 - b'Z' as u64 - 1) * ONES;
    let upper = at_least_a & !above_z & !w & (0x80 * ONES);
    w | (upper >> 2)
}

#[inline(always)]
const fn words_slot(w: [u64; 2]) -> usize {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    ((w[0] ^ w[1].wrapping_mul(K)).wrapping_mul(K) >> 56) as usize % PropIndex::SLOTS
}

/// An open-addressing table over one class's property names, built at
/// compile time ([`crate::classes::ElementState::PROP_INDEX`]): an exact name
/// is found with one hash of its two words and one comparison instead of a
/// scan of the class's 20–65 names (every property a statement sets is
/// looked up), and without lower-casing it byte by byte.
pub(crate) struct PropIndex {
    /// Position + 1 of the name hashing to each slot (0: empty); linear probing.
    slots: [u8; PropIndex::SLOTS],
    /// Each name's words ([`name_words`]), by position.
    words: [[u64; 2]; PropIndex::MAX_NAMES],
}

impl PropIndex {
    const SLOTS: usize = 256;
    const MAX_NAMES: usize = 96;

    /// The index of `props` (lower-case names, at most 96 of them; the first
    /// of equal names wins, as in a scan). Names longer than 16 bytes (two of
    /// them, in PVSystem and Storage) are left out: a name that long is
    /// looked up by a scan.
    pub(crate) const fn new(props: &[&str]) -> Self {
        assert!(props.len() <= Self::MAX_NAMES, "a property table has at most 96 names");
        let mut slots = [0u8; Self::SLOTS];
        let mut words = [[0u64; 2]; Self::MAX_NAMES];
        let mut k = 0;
        while k < props.len() {
            let name = props[k].as_bytes();
            if name.len() > WORD_NAME_MAX {
                // Found by the scan below (a longer name asked for).
                k += 1;
                continue;
            }
            words[k] = name_words(name);
            let mut slot = words_slot(words[k]);
            loop {
                let held = slots[slot];
                if held == 0 {
                    slots[slot] = (k + 1) as u8;
                    break;
                }
                let other = held as usize - 1;
                if words[other][0] == words[k][0] && words[other][1] == words[k][1] && props[other].len() == name.len() {
                    break;
                }
                slot = (slot + 1) % Self::SLOTS;
            }
            k += 1;
        }
        PropIndex { slots, words }
    }
}

/// [`find_property`] through the class's [`PropIndex`] of `props`: the same
/// answer (an exact name first, then the first name in class order that
/// starts with `name`, both case-insensitive).
#[inline(always)]
pub(crate) fn find_property_indexed(props: &[&str], index: &PropIndex, name: &str) -> Option<usize> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return None;
    }
    if bytes.len() <= WORD_NAME_MAX {
        let (w0, w1) = load_words(bytes);
        let (w0, w1) = (lower_word(w0), lower_word(w1));
        let mut slot = words_slot([w0, w1]);
        loop {
            let held = index.slots[slot] as usize;
            if held == 0 {
                break;
            }
            let k = held - 1;
            let [k0, k1] = index.words[k];
            if k0 == w0 && k1 == w1 && props.get(k).is_some_and(|p| p.len() == bytes.len()) {
                return Some(k);
            }
            slot = (slot + 1) % PropIndex::SLOTS;
        }
    }
    // A long name exactly, or an abbreviation (OpenDSS takes the first name
    // in class order that starts with it).
    if bytes.len() > WORD_NAME_MAX {
        if let Some(k) = props.iter().position(|p| p.as_bytes().eq_ignore_ascii_case(bytes)) {
            return Some(k);
        }
    }
    props.iter().position(|p| p.len() >= bytes.len() && p.as_bytes()[..bytes.len()].eq_ignore_ascii_case(bytes))
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
            // Words loaded at run time are the table's.
            for len in 0..=WORD_NAME_MAX {
                let bytes: Vec<u8> = (1..=len as u8).map(|b| b.wrapping_mul(37)).collect();
                let [w0, w1] = name_words(&bytes);
                assert_eq!(load_words(&bytes), (w0, w1), "{len}");
            }
            // Every byte lower-cases as `to_ascii_lowercase` does, whatever its neighbours.
            for b in 0..=255u8 {
                let w = u64::from_le_bytes([b, b'Q', b, 0xc3, b, b'z', 0x80, b]);
                let expect = u64::from_le_bytes([b, b'Q', b, 0xc3, b, b'z', 0x80, b].map(|c| c.to_ascii_lowercase()));
                assert_eq!(lower_word(w), expect, "{b}");
            }
            assert_eq!(find_property_indexed(table, &index, &long), find_property(table, &long));
        }
        assert_eq!(find_property(LOAD_PROPS, "K"), find_property(LOAD_PROPS, "kv"));
    }
}
