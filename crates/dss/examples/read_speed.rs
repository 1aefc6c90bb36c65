//! Times reading a feeder master (default: IEEE 34 Mod 1 with its line codes)
//! from memory, to compare with OpenDSS's ~11 ms compile:
//! `cargo run --release -p ogg-dss --example read_speed -- ../shared/feeders/ieee34/ieee34Mod1.dss`
use ogg_dss::{FileSource, MemoryFiles};
use std::time::Instant;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/feeders/ieee34/ieee34Mod1.dss".into());
    let path = std::path::Path::new(&path);
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let mut files = MemoryFiles::new();
    for entry in std::fs::read_dir(dir).expect("feeder folder").flatten() {
        if let Ok(text) = std::fs::read_to_string(entry.path()) {
            files.insert(entry.file_name().to_string_lossy().into_owned(), text);
        }
    }
    let master = path
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let text = files.read(&master, "").expect("master").1;
    let circuit = ogg_dss::read_str(&text, &master, &files).expect("reads");
    let runs = 2000;
    let start = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(ogg_dss::read_str(&text, &master, &files).expect("reads"));
    }
    let per_run = start.elapsed().as_secs_f64() / runs as f64;
    println!(
        "{master}: {} lines, {} loads, {} transformers: {:.1} µs per read (mean of {runs}, from memory)",
        circuit.lines.len(),
        circuit.loads.len(),
        circuit.transformers.len(),
        per_run * 1e6
    );
    let start = Instant::now();
    for _ in 0..200 {
        std::hint::black_box(ogg_dss::read_file(path).expect("reads"));
    }
    println!(
        "read_file from disk: {:.1} µs per read (mean of 200)",
        start.elapsed().as_secs_f64() / 200.0 * 1e6
    );
}
