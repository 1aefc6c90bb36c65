//! Built-in feeders, embedded in the binary (files in `crates/grid/feeders/`).
//!
//! ```no_run
//! let circuit = ogg_grid::feeders::circuit("ieee13").unwrap();
//! let mut pf = ogg_grid::PowerFlow::new(&circuit).unwrap();
//! pf.solve().unwrap();
//! ```

use ogg_dss::{Circuit, MemoryFiles};

use crate::error::GridError;

macro_rules! feeder {
    ($name:literal) => {
        (
            $name,
            [
                ("master.dss", include_str!(concat!("../feeders/", $name, "/master.dss"))),
                ("linecodes.dss", include_str!(concat!("../feeders/", $name, "/linecodes.dss"))),
                ("buscoords.csv", include_str!(concat!("../feeders/", $name, "/buscoords.csv"))),
            ],
        )
    };
}

type FeederFiles = (&'static str, [(&'static str, &'static str); 3]);

const FEEDERS: [FeederFiles; 5] = [
    feeder!("ieee13"),
    feeder!("ieee34"),
    feeder!("ieee34mod2"),
    feeder!("ieee34_opengridgym"),
    feeder!("ieee37"),
];

/// Names of the built-in feeders.
pub fn names() -> Vec<&'static str> {
    FEEDERS.iter().map(|f| f.0).collect()
}

/// The files of a built-in feeder (name → content), master first.
pub fn files(name: &str) -> Option<Vec<(&'static str, &'static str)>> {
    let lower = name.to_ascii_lowercase();
    FEEDERS.iter().find(|f| f.0 == lower).map(|f| f.1.to_vec())
}

/// Reads a built-in feeder into a circuit. Note that some masters do not
/// solve themselves (`Circuit::solve_count`); solve with [`crate::PowerFlow`].
pub fn circuit(name: &str) -> Result<Circuit, GridError> {
    let files = files(name).ok_or_else(|| GridError::UnknownFeeder { name: name.to_string(), known: names().join(", ") })?;
    let mut mem = MemoryFiles::new();
    for (file, content) in &files {
        mem.insert(format!("{}/{}", name.to_ascii_lowercase(), file), *content);
    }
    let master = format!("{}/master.dss", name.to_ascii_lowercase());
    ogg_dss::read_str(files[0].1, &master, &mem).map_err(|e| GridError::Read(e.to_string()))
}

/// A built-in feeder name or a path to a `.dss` master script.
pub fn circuit_from(input: &str) -> Result<Circuit, GridError> {
    if files(input).is_some() {
        return circuit(input);
    }
    let path = std::path::Path::new(input);
    if !path.exists() {
        return Err(GridError::Read(format!(
            "'{input}' is neither a file nor a built-in feeder (built-in: {})",
            names().join(", ")
        )));
    }
    ogg_dss::read_file(path).map_err(|e| GridError::Read(e.to_string()))
}
