//! Where `Redirect`/`Compile`/`BusCoords`/`mult=(file=…)` find their files.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// Supplies the files a script refers to.
pub trait FileSource {
    /// `path` as written in the script, `including_file` the (resolved) name of
    /// the file it appears in. Returns the resolved name (used in error
    /// messages and to resolve the file's own includes) and the content.
    fn read(&self, path: &str, including_file: &str) -> io::Result<(String, String)>;

    /// Like [`FileSource::read`] for binary data (`sngfile=`/`dblfile=` load shapes).
    fn read_bytes(&self, path: &str, including_file: &str) -> io::Result<(String, Vec<u8>)> {
        self.read(path, including_file)
            .map(|(name, text)| (name, text.into_bytes()))
    }
}

/// Files on disk. Relative paths are relative to the including file's
/// directory. When the exact name does not exist, each path component is looked
/// up case-insensitively (scripts written on Windows rely on that).
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskFiles;

impl DiskFiles {
    fn resolve(path: &str, including_file: &str) -> io::Result<PathBuf> {
        let path = path.replace('\\', "/");
        let written = Path::new(&path);
        let full = if written.is_absolute() {
            written.to_path_buf()
        } else {
            Path::new(including_file)
                .parent()
                .unwrap_or_else(|| Path::new(""))
                .join(written)
        };
        if full.exists() {
            return Ok(full);
        }
        find_case_insensitive(&full).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("file not found: {}", full.display()),
            )
        })
    }
}

/// Walks `path` component by component, matching each against the directory
/// listing ignoring ASCII case.
fn find_case_insensitive(path: &Path) -> Option<PathBuf> {
    let mut found = PathBuf::new();
    for component in path.components() {
        use std::path::Component;
        match component {
            Component::Normal(name) => {
                let candidate = found.join(name);
                if candidate.exists() {
                    found = candidate;
                    continue;
                }
                let wanted = name.to_string_lossy().to_lowercase();
                let dir = if found.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    found.as_path()
                };
                let entry = std::fs::read_dir(dir)
                    .ok()?
                    .flatten()
                    .find(|entry| entry.file_name().to_string_lossy().to_lowercase() == wanted)?;
                found = found.join(entry.file_name());
            }
            other => found.push(other.as_os_str()),
        }
    }
    Some(found)
}

impl FileSource for DiskFiles {
    fn read(&self, path: &str, including_file: &str) -> io::Result<(String, String)> {
        let (name, bytes) = self.read_bytes(path, including_file)?;
        // Feeder files are ASCII; be lenient with stray Latin-1 bytes in comments.
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => err.into_bytes().iter().map(|&b| b as char).collect(),
        };
        Ok((name, text))
    }

    fn read_bytes(&self, path: &str, including_file: &str) -> io::Result<(String, Vec<u8>)> {
        let full = Self::resolve(path, including_file)?;
        let bytes = std::fs::read(&full)?;
        Ok((full.to_string_lossy().into_owned(), bytes))
    }
}

/// Files held in memory, e.g. built-in feeders embedded with `include_str!`.
/// Names are matched ignoring case and directories relative to the including
/// file; `\` and `/` are the same.
#[derive(Debug, Clone, Default)]
pub struct MemoryFiles(pub HashMap<String, String>);

impl MemoryFiles {
    pub fn new() -> Self {
        MemoryFiles(HashMap::new())
    }

    /// Adds (or replaces) a file.
    pub fn insert(&mut self, name: impl Into<String>, content: impl Into<String>) {
        self.0.insert(name.into(), content.into());
    }

    pub fn with(mut self, name: impl Into<String>, content: impl Into<String>) -> Self {
        self.insert(name, content);
        self
    }
}

fn normalise(name: &str) -> String {
    let name = name.replace('\\', "/").to_lowercase();
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

impl FileSource for MemoryFiles {
    fn read(&self, path: &str, including_file: &str) -> io::Result<(String, String)> {
        let including = including_file.replace('\\', "/");
        let dir = including.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("");
        let candidates = [normalise(&format!("{dir}/{path}")), normalise(path)];
        for wanted in &candidates {
            if let Some((name, content)) =
                self.0.iter().find(|(name, _)| normalise(name) == *wanted)
            {
                return Ok((name.clone(), content.clone()));
            }
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("file not found: {path}"),
        ))
    }
}
