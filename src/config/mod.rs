//! The project file `pond.json`: its model, loading (with schema migration),
//! validation and atomic saving.
//!
//! Loading is strict and reports where: JSON syntax errors carry line and
//! column, shape errors (wrong type, unknown field, missing field) carry the
//! JSON path, and [`validate`] then reports *every* rule violation at once.
//! Saving writes a temp file beside the target and renames it, so a crash
//! never leaves a half-written pond.json, and uses the struct field order so
//! diffs stay small.

mod app;
pub mod grammar;
mod migrate;
pub mod model;
pub mod validate;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use app::*;
pub use migrate::{MIGRATIONS, Migration, migrate};
pub use model::*;
pub use validate::{show, validate};

/// Largest pond.json Pond will read; a real one is a few kilobytes.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The file name Pond looks for in a project directory.
pub const FILE_NAME: &str = "pond.json";

/// One mistake in a project file, located by its JSON path
/// (`environments[1].domain`), or `(file)` / `(document)` when it is about
/// the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a project file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid Pond project file ({} problem{})", path.display(), problems.len(), if problems.len() == 1 { "" } else { "s" })]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl LoadError {
    /// The located problems, if the file was read but is not valid.
    pub fn problems(&self) -> &[Problem] {
        match self {
            LoadError::Invalid { problems, .. } => problems,
            LoadError::Io { .. } => &[],
        }
    }
}

/// Resolves a user-given path: a directory means its `pond.json`.
pub fn resolve_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(FILE_NAME)
    } else {
        path.to_path_buf()
    }
}

/// Reads, migrates, parses and validates a project file. Hook and template
/// files are looked up relative to the file's directory.
pub fn load(path: &Path) -> Result<ProjectFile, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let invalid = |problems| LoadError::Invalid {
        path: path.to_path_buf(),
        problems,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(invalid(vec![Problem::new(
            "(file)",
            format!("is {size} bytes; a project file is at most {MAX_FILE_BYTES} bytes"),
        )]));
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let root = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    let file = parse(&text).map_err(invalid)?;
    let problems = validate(&file, root);
    if problems.is_empty() {
        Ok(file)
    } else {
        Err(invalid(problems))
    }
}

/// Parses project file text (migrating older schema versions) without the
/// rule checks of [`validate`].
pub fn parse(text: &str) -> Result<ProjectFile, Vec<Problem>> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        vec![Problem::new(
            "(document)",
            format!("is not valid JSON: {e}"),
        )]
    })?;
    let version = schema_version_of(&value)?;
    if version == CURRENT_SCHEMA_VERSION {
        // Parse the text itself, not the Value: that also catches duplicate
        // keys, which a Value silently collapses.
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| vec![shape_problem(e)])
    } else {
        let migrated = migrate(value, version, MIGRATIONS)?;
        serde_path_to_error::deserialize(migrated).map_err(|e| vec![shape_problem(e)])
    }
}

fn schema_version_of(value: &serde_json::Value) -> Result<u32, Vec<Problem>> {
    let Some(object) = value.as_object() else {
        return Err(vec![Problem::new(
            "(document)",
            "expected a JSON object with schema_version, name, stack, ...",
        )]);
    };
    let version = object.get("schema_version").ok_or_else(|| {
        vec![Problem::new(
            "schema_version",
            format!("is missing; expected {CURRENT_SCHEMA_VERSION}"),
        )]
    })?;
    let version = version
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| {
            vec![Problem::new(
                "schema_version",
                format!("{version} is not a schema version; expected a whole number like {CURRENT_SCHEMA_VERSION}"),
            )]
        })?;
    if version > CURRENT_SCHEMA_VERSION {
        return Err(vec![Problem::new(
            "schema_version",
            format!(
                "{version} is newer than this Pond understands (up to {CURRENT_SCHEMA_VERSION}); update Pond"
            ),
        )]);
    }
    Ok(version)
}

fn shape_problem(e: serde_path_to_error::Error<serde_json::Error>) -> Problem {
    let path = e.path().to_string();
    let path = if path == "." {
        "(top level)".to_string()
    } else {
        path
    };
    Problem::new(path, e.inner().to_string())
}

/// The project file rendered exactly as Pond writes it: two-space JSON in
/// model field order, ending with a newline.
pub fn to_text(file: &ProjectFile) -> String {
    let mut text = serde_json::to_string_pretty(file).expect("the model always serializes");
    text.push('\n');
    text
}

/// Writes the project file atomically: a temp file in the same directory,
/// flushed to disk, then renamed over the target.
pub fn save(path: &Path, file: &ProjectFile) -> std::io::Result<()> {
    write_atomically(path, to_text(file).as_bytes())
}

/// Replaces `path` with `bytes` so readers see the old or the new content,
/// never a mix; the temp file is removed if anything fails.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_as(path, bytes, false)
}

/// [`write_atomically`] for a file only its owner may read: created 0600
/// from the start (never readable by others, not even for a moment).
pub fn write_private_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_as(path, bytes, true)
}

fn write_atomically_as(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} is not a file path", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            // A stale temp file from a crash could carry other modes.
            let _ = std::fs::remove_file(&tmp);
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename made durable: Unix syncs the directory; Windows cannot
        // open one as a file, and NTFS journals the rename itself.
        #[cfg(unix)]
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The JSON Schema of pond.json, generated from the model.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(ProjectFile);
    let mut text = serde_json::to_string_pretty(&schema).expect("schema serializes");
    text.push('\n');
    text
}
