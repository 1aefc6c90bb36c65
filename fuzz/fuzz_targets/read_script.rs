//! Any bytes given to the reader as a script must give a circuit or an error,
//! never a panic, a hang or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ogg_dss::MemoryFiles;

/// A small include so that `Redirect codes.dss`, `LineCode=a` and
/// `mult=(file=shape.csv)` reach real content.
fn files() -> MemoryFiles {
    MemoryFiles::new()
        .with("codes.dss", "New LineCode.a nphases=3 rmatrix=(1 | 0.5 1 | 0.5 0.5 1) units=kft\nNew LineCode.b r1=0.1 x1=0.2\n")
        .with("shape.csv", "0.5\n1.0\n0.75\n")
        .with("xy.csv", "a, 0, 0\nb, 1, 2\n")
        .with("loop.dss", "Redirect loop.dss\n")
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = ogg_dss::read_str(&text, "fuzz.dss", &files());
});
