//! An opened project as every front end needs it: the project file with its
//! path and root, the user's SSH identity, and connections to one
//! environment's servers that pin first-use host keys and save them. The
//! CLI and the desktop app both go through here, so they behave the same.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::{self, LoadError, ProjectFile};
use crate::ssh::{self, Identity, Sink};
use crate::tasks::{self, Connected};

/// Why a project could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("there is no {} here", .0.display())]
    Missing(PathBuf),
    #[error(transparent)]
    Load(#[from] LoadError),
}

pub struct Project {
    /// The pond.json file.
    pub path: PathBuf,
    /// The directory holding it: what gets deployed.
    pub root: PathBuf,
    pub file: ProjectFile,
}

impl Project {
    /// Opens `dir_or_file` (a directory holding pond.json, or the file).
    pub fn open(dir_or_file: &Path) -> Result<Project, OpenError> {
        let path = config::resolve_path(dir_or_file);
        if !path.exists() {
            return Err(OpenError::Missing(path));
        }
        let file = config::load(&path)?;
        let root = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Project { path, root, file })
    }

    /// The index of the named environment, or an error listing the others.
    pub fn env_index(&self, name: &str) -> anyhow::Result<usize> {
        Ok(tasks::find_env(&self.file, name)?.0)
    }

    /// Connects to an environment's servers; returns whether new host keys
    /// were pinned (and saved to pond.json).
    pub async fn connect(
        &mut self,
        env_index: usize,
        identity: &Identity,
        sink: &Sink,
    ) -> anyhow::Result<(Vec<Connected>, bool)> {
        let servers = tasks::servers(&self.file.environments[env_index], env_index)?;
        let connected = tasks::connect_all(&servers, identity, sink).await?;
        let pinned = tasks::record_pins(&mut self.file, env_index, &connected);
        if pinned {
            config::save(&self.path, &self.file)
                .with_context(|| format!("saving {}", self.path.display()))?;
        }
        Ok((connected, pinned))
    }
}

/// The user's key: `$POND_SSH_KEY` (an existing OpenSSH key file, or
/// `agent` for the ssh-agent's key) if set, else Pond's own key, generated
/// on first use. The flag says whether it was just generated.
pub async fn user_identity() -> anyhow::Result<(Identity, bool)> {
    match std::env::var_os("POND_SSH_KEY") {
        Some(v) if v == "agent" => return Ok((ssh::key::from_agent().await?, false)),
        Some(path) => return Ok((ssh::key::load(Path::new(&path))?, false)),
        None => {}
    }
    let path = ssh::key::default_key_path()?;
    ssh::key::load_or_generate(&path)
}
