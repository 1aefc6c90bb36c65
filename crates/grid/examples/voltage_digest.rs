//! Prints a digest of the node voltages' bits after the first solve, with the iteration count, for
//! each feeder given (built-in name, path, or `syntheticN`): compile changes that must keep the
//! power flow bit for bit are checked by comparing the output of the binaries before and after.
use ogg_grid::{feeders, synthetic, PowerFlow};
fn main() {
    for arg in std::env::args().skip(1) {
        let circuit = if let Some(n) = arg.strip_prefix("synthetic") {
            synthetic::circuit(n.parse().unwrap(), 1).unwrap()
        } else {
            feeders::circuit_from(&arg).unwrap()
        };
        let mut pf = PowerFlow::new(&circuit).unwrap();
        let r = pf.solve().unwrap();
        let mut h: u64 = 0xcbf29ce484222325;
        for v in pf.node_voltages() {
            for b in [v.re.to_bits(), v.im.to_bits()] {
                h ^= b;
                h = h.wrapping_mul(0x100000001b3);
            }
        }
        println!("{arg}: {} iterations, converged {}, digest {h:016x}", r.iterations, r.converged);
    }
}
