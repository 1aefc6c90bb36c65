//! `ogg run uc3` without the rest of the `ogg` binary:
//! `cargo run -p ogg-dlmp --example uc3 -- [scenarios/uc3.toml] --out results/uc3`
use std::path::PathBuf;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut file = None;
    let mut out = PathBuf::from("results/uc3");
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--out" {
            i += 1;
            match args.get(i) {
                Some(v) => out = PathBuf::from(v),
                None => {
                    eprintln!("error: --out needs a folder");
                    return std::process::ExitCode::from(2);
                }
            }
        } else {
            file = Some(PathBuf::from(&args[i]));
        }
        i += 1;
    }
    let start = std::time::Instant::now();
    match ogg_dlmp::uc3::run_scenario(file.as_deref(), &out) {
        Ok((_, files)) => {
            println!(
                "use case 3 ran in {:.2} s; wrote {} files into {}",
                start.elapsed().as_secs_f64(),
                files.len(),
                out.display()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
