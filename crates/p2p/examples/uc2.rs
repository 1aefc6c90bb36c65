//! `cargo run -p ogg-p2p --example uc2 -- [scenarios/uc2.toml] [--out DIR]`:
//! what `ogg run uc2` runs.

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut file: Option<PathBuf> = None;
    let mut out = PathBuf::from("results/uc2");
    while let Some(a) = args.next() {
        if a == "--out" {
            match args.next() {
                Some(d) => out = PathBuf::from(d),
                None => {
                    eprintln!("error: --out needs a folder");
                    std::process::exit(2);
                }
            }
        } else {
            file = Some(PathBuf::from(a));
        }
    }
    let start = std::time::Instant::now();
    match ogg_p2p::uc2::run_scenario(file.as_deref(), &out) {
        Ok((_, files)) => {
            println!("use case 2 ran in {:.2} s", start.elapsed().as_secs_f64());
            for f in files {
                println!("  {}", f.display());
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
