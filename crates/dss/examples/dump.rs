//! Reads an OpenDSS script and prints what the reader made of it:
//! `cargo run -p ogg-dss --example dump -- path/to/master.dss`.
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: dump <script.dss>");
        std::process::exit(2);
    };
    match ogg_dss::read_file(std::path::Path::new(&path)) {
        Ok(circuit) => println!("{circuit:#?}"),
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(1);
        }
    }
}
