//! Reader for OpenDSS scripts: turns `.dss` files into a [`model::Circuit`].
//!
//! ```no_run
//! let circuit = ogg_dss::read_file(std::path::Path::new("feeders/ieee13/IEEE13Nodeckt.dss")).unwrap();
//! println!("{} loads", circuit.loads.len());
//! ```
//!
//! The reader runs the script statement by statement as OpenDSS does, so the
//! order of properties matters exactly as it does there (see the crate's
//! README for the supported language and what is accepted but ignored).

mod classes;
mod ders;
mod error;
mod files;
mod lexer;
mod line_constants;
pub mod model;
mod props;
mod reader;
mod rpn;
mod store;
mod values;
mod wires;

pub use error::ReadError;
pub use files::{DiskFiles, FileSource, MemoryFiles};
pub use line_constants::EarthModel;
pub use model::*;
pub use store::{FastMap, Fnv};

/// Reads a script from disk; `Redirect`/`Compile` are resolved relative to the
/// including file, ignoring case when the exact name does not exist.
pub fn read_file(path: &std::path::Path) -> Result<Circuit, ReadError> {
    let name = path.to_string_lossy().into_owned();
    let location = Location {
        file: name.as_str().into(),
        line: 0,
    };
    let text = DiskFiles
        .read(&name, "")
        .map_err(|e| ReadError {
            location,
            element: None,
            message: format!("cannot read the script: {e}"),
        })?
        .1;
    read_str(&text, &name, &DiskFiles)
}

/// Read a script held in memory; Redirect/Compile are resolved through `files`.
pub fn read_str(text: &str, file_name: &str, files: &dyn FileSource) -> Result<Circuit, ReadError> {
    let mut reader = reader::Reader::new(files);
    reader.run(text, file_name)?;
    reader.finish()
}

/// Evaluates an OpenDSS in-line RPN expression such as `0.00625 12 * 1 +`.
pub fn eval_rpn(expression: &str) -> Result<f64, String> {
    rpn::evaluate(expression)
}
