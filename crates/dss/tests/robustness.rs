//! No input makes the reader panic: the feeder scripts are mutated a few
//! thousand times (deterministic PRNG; byte flips, truncations, insertions of
//! syntax characters and keywords) and each result must read to a circuit or
//! an error. Dependency-free; `fuzz/` has the libFuzzer version.

use ogg_dss::MemoryFiles;
use std::path::PathBuf;

/// xorshift64*: deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const SYNTAX: &[&str] = &[
    "\"",
    "'",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "|",
    "=",
    "~",
    "!",
    "//",
    "/*",
    "*/",
    ".",
    ",",
    " ",
    "\n",
    "\r\n",
    "\t",
    "0",
    "-1",
    "1e308",
    "nan",
    "(1 0 /)",
    "( sqrt)",
    "=(",
    "New ",
    "Edit ",
    "~ ",
    "More ",
    "Set ",
    "Redirect ",
    "Compile ",
    "Clear\n",
    "calcv\n",
    "Solve\n",
    "like=",
    "wdg=",
    "wdg=9 ",
    "windings=",
    "windings=1000 ",
    "phases=",
    "phases=99 ",
    "switch=y ",
    "linecode=",
    "xfmrcode=",
    "kW=",
    "pf=0 ",
    "kvar=",
    "buses=[",
    "kvs=(",
    "rmatrix=(1 | 2 3)",
    "npts=100000 ",
    "numsteps=",
    "mult=(file=",
    "daily=",
    "Transformer.",
    "Load.",
    "Line.",
    "LineCode.",
    "Capacitor.",
    "RegControl.",
    "LoadShape.",
    "Generator.",
    "PVSystem.",
    "Storage.",
    "XYcurve.",
    "TShape.",
    "model=3 ",
    "state=discharging ",
    "dispmode=follow ",
    "effcurve=",
    "kva=0 ",
    "EnergyMeter.",
    "object=circuit.x ",
    ".1.2.3",
    "é",
    "\u{0}",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(5) {
            0 => {
                if at < bytes.len() {
                    bytes[at] = (32 + rng.below(95)) as u8;
                }
            }
            1 => bytes.truncate(at),
            2 => {
                let end = (at + rng.below(40)).min(bytes.len());
                bytes.drain(at..end);
            }
            _ => {
                let piece = SYNTAX[rng.below(SYNTAX.len())].as_bytes();
                bytes.splice(at..at, piece.iter().copied());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The feeder folders of `../shared`, or a small built-in feeder when absent.
fn corpora() -> Vec<(String, MemoryFiles)> {
    let shared = std::env::var_os("OGG_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let mut out = Vec::new();
    for (dir, master) in [
        ("ieee13", "IEEE13Nodeckt.dss"),
        ("ieee34", "Run_IEEE34Mod1.dss"),
        ("ieee34", "ieee34Mod2.dss"),
        ("ieee34_opengridgym", "ieee34Mod1.dss"),
        ("ieee37", "ieee37.dss"),
    ] {
        let folder = shared.join("feeders").join(dir);
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut files = MemoryFiles::new();
        for entry in entries.flatten() {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                files.insert(entry.file_name().to_string_lossy().into_owned(), text);
            }
        }
        out.push((master.to_string(), files));
    }
    if out.is_empty() {
        eprintln!("shared feeders not found: mutating the built-in sample only");
    }
    let sample = "Clear\nSet DefaultBaseFrequency=60\nNew Circuit.s basekv=115 pu=1.0001 MVAsc3=20000\n\
        Redirect codes.dss\nNew Transformer.t Phases=3 Windings=2 XHL=(8 1000 /)\n~ wdg=1 bus=SourceBus conn=delta kv=115 kva=5000 %r=0.5\n\
        ~ wdg=2 bus=650 conn=wye kv=4.16 kva=5000\nNew Transformer.r phases=1 buses=(650.1 rg.1) kvs=\"2.4 2.4\" kvas=[1666 1666] %LoadLoss=0.01\n\
        New RegControl.r transformer=r winding=2 vreg=122 band=2 ptratio=20\nNew Line.l Bus1=rg.1.2.3 Bus2=632 LineCode=mtx Length=2000 units=ft\n\
        New Line.sw bus1=632 bus2=633 switch=y r1=1e-4\nNew LoadShape.ls npts=3 mult=(file=shape.csv)\nNew Load.a Bus1=633.1 Phases=1 kV=2.4 kW=100 kvar=50 daily=ls\n\
        New Capacitor.c Bus1=633 kvar=[300 300] numsteps=2\nNew CapControl.cc element=line.l capacitor=c type=voltage\n/* block */\nSet voltagebases=[115, 4.16]\ncalcv\nSolve\nBusCoords xy.csv\n";
    let files = MemoryFiles::new()
        .with("sample.dss", sample)
        .with("codes.dss", "New linecode.mtx nphases=3 rmatrix=(0.3 | 0.1 0.3 | 0.1 0.1 0.3) xmatrix=[1 | 0.5 1 | 0.5 0.5 1] units=mi\n")
        .with("shape.csv", "0.5\n1\n0.7\n")
        .with("xy.csv", "650, 1, 2\n");
    out.push(("sample.dss".to_string(), files));
    let ders = "New Circuit.d basekv=12.47\nNew Loadshape.s npts=4 interval=6 mult=[0.1 0.5 1 -0.5] qmult=[0 1 2 3]\n\
        New XYcurve.e npts=3 xarray=[0 0.5 1] yarray=[0.8 0.95 0.97]\nNew XYcurve.p npts=2 points=[0 1.1 50 0.9]\n\
        New TShape.t npts=2 interval=12 temp=[10 30]\nNew Generator.g bus1=sourcebus kw=500 pf=0.9 model=3 vpu=1.02 daily=s dispmode=loadlevel dispvalue=0.5\n\
        New PVSystem.pv bus1=sourcebus.1 phases=1 kv=7.2 pmpp=100 kva=90 effcurve=e p-tcurve=p tdaily=t daily=s kvar=30 kvarmax=20\n\
        New Storage.b bus1=sourcebus kwrated=100 kwhrated=400 %stored=50 dispmode=follow daily=s state=charging kw=-50 conn=delta\n\
        ~ %effcharge=95 chargetrigger=0.2 dischargetrigger=0.8\nSolve\n";
    out.push((
        "ders.dss".to_string(),
        MemoryFiles::new().with("ders.dss", ders),
    ));
    out
}

#[test]
fn mutated_scripts_never_panic() {
    let corpora = corpora();
    let mut rng = Rng(0x5EED_0FF1_CE00_0001);
    let iterations = 5000;
    let mut errors = 0;
    let mut first_unreadable = Vec::new();
    for (master, files) in &corpora {
        let original = ogg_dss::FileSource::read(files, master, "")
            .expect("master")
            .1;
        // The unmutated script must read.
        if let Err(e) = ogg_dss::read_str(&original, master, files) {
            first_unreadable.push(format!("{master}: {e}"));
        }
    }
    assert!(first_unreadable.is_empty(), "{first_unreadable:?}");
    for i in 0..iterations {
        let (master, files) = &corpora[i % corpora.len()];
        let original = ogg_dss::FileSource::read(files, master, "")
            .expect("master")
            .1;
        let mutated = mutate(&mut rng, &original);
        // Sometimes mutate an included file instead.
        let mut files = files.clone();
        if rng.below(4) == 0 {
            let names: Vec<String> = files.0.keys().cloned().collect();
            let name = &names[rng.below(names.len())];
            let text = files.0[name].clone();
            files.insert(name.clone(), mutate(&mut rng, &text));
        }
        let result = std::panic::catch_unwind(|| ogg_dss::read_str(&mutated, master, &files));
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                errors += 1;
                let text = e.to_string();
                assert!(
                    text.contains(':') && e.location.line > 0 || e.location.line == 0,
                    "{text}"
                );
            }
            Err(_) => {
                panic!("iteration {i}: read_str panicked on a mutation of {master}:\n{mutated}")
            }
        }
    }
    eprintln!("{iterations} mutated scripts read without panic ({errors} gave errors)");
    assert!(errors > 0, "mutations should produce some errors");
}
