//! Runs use case 1 and writes its tables and figures:
//! `cargo run -p ogg-market --example uc1 -- [scenario.toml] [--out DIR]`
//! (what `ogg run uc1` does; without a file, the built-in scenarios/uc1.toml).

fn main() {
    let mut toml = None;
    let mut out = std::path::PathBuf::from("results/uc1");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--out" {
            out = args.next().map(Into::into).unwrap_or(out);
        } else {
            toml = Some(std::path::PathBuf::from(a));
        }
    }
    match ogg_market::uc1::run_scenario(toml.as_deref(), &out) {
        Ok((res, files)) => {
            print!("{}", ogg_market::uc1::summary_markdown(&ogg_market::uc1::Uc1Config::built_in(), &res));
            for f in files {
                println!("wrote {}", f.display());
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
