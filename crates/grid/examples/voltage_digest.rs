//! Prints a digest of the node voltages' bits after the first solve, with the iteration count, for
//! each feeder given (built-in name, path, or `syntheticN`): compile changes that must keep the
//! power flow bit for bit are checked by comparing the output of the binaries before and after.
//!
//! ```text
//! cargo run --release -p ogg-grid --example voltage_digest -- ieee13 synthetic1000 path/to/Master.dss
//! ```

use ogg_grid::{feeders, synthetic, GridError, PowerFlow};

/// FNV-1a over the bits of every node voltage (real, then imaginary part).
fn digest(pf: &PowerFlow) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in pf.node_voltages() {
        for bits in [v.re.to_bits(), v.im.to_bits()] {
            h ^= bits;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn run(feeder: &str) -> Result<String, String> {
    let circuit = match feeder.strip_prefix("synthetic") {
        Some(n) => {
            let nodes = n.parse().map_err(|_| format!("`{feeder}`: syntheticN takes a node count"))?;
            synthetic::circuit(nodes, 1).map_err(|e| e.to_string())?
        }
        None => feeders::circuit_from(feeder).map_err(|e| e.to_string())?,
    };
    let mut pf = PowerFlow::new(&circuit).map_err(|e: GridError| e.to_string())?;
    let report = pf.solve().map_err(|e| e.to_string())?;
    Ok(format!("{feeder}: {} iterations, converged {}, digest {:016x}", report.iterations, report.converged, digest(&pf)))
}

fn main() -> std::process::ExitCode {
    let mut failed = false;
    for feeder in std::env::args().skip(1) {
        match run(&feeder) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("{feeder}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::ExitCode::from(2)
    } else {
        std::process::ExitCode::SUCCESS
    }
}
