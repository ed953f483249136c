//! An opened project as every front end needs it: the project file with its
//! path and root; [`OpenEnv`], one of its environments with the user's SSH
//! key, whose connections to the servers pin first-use host keys and save
//! them. The commands on one environment's servers, in the CLI and the
//! desktop app, start from [`Project::open_env`], so they behave the same;
//! reading several environments at once ([`Project::statuses`]: `pond
//! status`, the app's status panel, destroy's look at what a droplet
//! hosts) takes the key as an argument.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::{self, Environment, LoadError, Problem, ProjectFile, Stack};
use crate::ssh::{self, Identity, Sink};
use crate::tasks::operate::{self, ServerStatus};
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

    /// Writes pond.json as `file` holds it now.
    pub fn save(&self) -> anyhow::Result<()> {
        config::save(&self.path, &self.file)
            .with_context(|| format!("saving {}", self.path.display()))
    }

    /// The index of the named environment, or an error listing the others.
    pub fn env_index(&self, name: &str) -> anyhow::Result<usize> {
        Ok(tasks::find_env(&self.file, name)?.0)
    }

    /// Opens one of the project's environments with the user's key (see
    /// [`user_identity`]): what every environment command starts from, in
    /// the CLI and in the app. An unknown name is an error listing the
    /// environments there are.
    pub async fn open_env(self, name: &str) -> anyhow::Result<OpenEnv> {
        let index = self.env_index(name)?;
        let (identity, key_generated) = user_identity().await?;
        Ok(OpenEnv {
            project: self,
            index,
            identity,
            key_generated,
        })
    }
}

/// One environment of an opened project, with the user's key.
pub struct OpenEnv {
    pub project: Project,
    /// The environment's index in `project.file.environments`.
    pub index: usize,
    pub identity: Identity,
    /// Whether the user's key was generated just now (its first use).
    pub key_generated: bool,
}

impl OpenEnv {
    /// The environment as pond.json declares it.
    pub fn env(&self) -> &Environment {
        &self.project.file.environments[self.index]
    }

    /// Connects to the environment's servers (all at once), pinning the
    /// host key of a server seen for the first time; returns whether new
    /// keys were pinned (and saved to pond.json).
    pub async fn connect(&mut self, sink: &Sink) -> anyhow::Result<(Vec<Connected>, bool)> {
        let project = &mut self.project;
        let servers = tasks::servers(&project.file.environments[self.index], self.index)?;
        let connected = tasks::connect_all(&servers, &self.identity, sink).await?;
        let pinned = tasks::record_pins(&mut project.file, self.index, &connected);
        if pinned {
            project.save()?;
        }
        Ok((connected, pinned))
    }
}

impl Project {
    /// Adds (or replaces) a team member's public key in pond.json, checked
    /// with the same rules as the whole file, then saves it. Servers
    /// created afterwards accept the key.
    pub fn add_team_key(&mut self, name: &str, public_key: &str) -> Result<(), InitError> {
        let mut candidate = self.file.clone();
        candidate.team_keys.retain(|k| k.name != name);
        candidate.team_keys.push(config::TeamKey {
            name: name.to_string(),
            public_key: public_key.trim().to_string(),
        });
        let problems = config::validate(&candidate, Some(&self.root));
        if !problems.is_empty() {
            return Err(InitError::Invalid(problems));
        }
        config::save(&self.path, &candidate)
            .with_context(|| format!("saving {}", self.path.display()))?;
        self.file = candidate;
        Ok(())
    }

    /// Removes a team member's key from pond.json; an unknown name is an
    /// error naming the known ones.
    pub fn remove_team_key(&mut self, name: &str) -> anyhow::Result<()> {
        if !self.file.team_keys.iter().any(|k| k.name == name) {
            let known: Vec<&str> = self
                .file
                .team_keys
                .iter()
                .map(|k| k.name.as_str())
                .collect();
            anyhow::bail!(
                "pond.json has no team key named {name:?}; it has: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
        }
        let mut candidate = self.file.clone();
        candidate.team_keys.retain(|k| k.name != name);
        config::save(&self.path, &candidate)
            .with_context(|| format!("saving {}", self.path.display()))?;
        self.file = candidate;
        Ok(())
    }

    /// Status of several environments at once: every server of every
    /// environment is asked in parallel (one round trip each), over one
    /// connection per droplet and login user however many environments it
    /// hosts (at most [`ssh::session::MAX_CHANNELS`] at once). A server
    /// that cannot be reached is reported as such, with the reason.
    /// First-use host keys are pinned and saved; the flag says so.
    pub async fn statuses(
        &mut self,
        envs: &[usize],
        identity: &Identity,
    ) -> anyhow::Result<(Vec<(Environment, Vec<ServerStatus>)>, bool)> {
        let quiet = ssh::session::quiet();
        let file = &self.file;
        // One pool for all: a droplet several environments share is
        // connected to once.
        let pool = ssh::Pool::new();
        let pool = &pool;
        let runs = envs.iter().map(|&i| {
            let env = file.environments[i].clone();
            let quiet = quiet.clone();
            async move {
                let connected = match tasks::servers(&env, i) {
                    Ok(servers) => {
                        tasks::connect_all_pooled(pool, &servers, identity, &quiet).await
                    }
                    Err(e) => Err(e),
                };
                match connected {
                    Ok(c) => {
                        let statuses = operate::status(file, &env, &c).await;
                        (i, env, statuses, Some(c))
                    }
                    Err(err) => {
                        let statuses = env
                            .droplets
                            .iter()
                            .map(|d| ServerStatus {
                                server: d.name.clone(),
                                error: Some(format!("{err:#}")),
                                ..Default::default()
                            })
                            .collect();
                        (i, env, statuses, None)
                    }
                }
            }
        });
        let results = futures::future::join_all(runs).await;
        let mut pinned = false;
        for (i, _, _, connected) in &results {
            if let Some(c) = connected {
                pinned |= tasks::record_pins(&mut self.file, *i, c);
            }
        }
        if pinned {
            self.save()?;
        }
        let out = results.into_iter().map(|(_, e, s, _)| (e, s)).collect();
        Ok((out, pinned))
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

/// The build tag when none is given: the short git commit of the project,
/// else "manual".
pub fn default_tag(root: &Path) -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|t| tasks::state::check_tag(t).is_ok())
        .unwrap_or_else(|| "manual".into())
}

/// A fresh secret preview prefix: 14 random lowercase letters and digits.
pub fn new_secret_prefix() -> String {
    let mut bytes = [0u8; 14];
    getrandom::fill(&mut bytes).expect("OS randomness");
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Why `init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("the starter project is not valid")]
    Invalid(Vec<Problem>),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// What `init` wrote.
pub struct Initialized {
    pub path: PathBuf,
    pub file: ProjectFile,
    /// The ignore file's path relative to the project.
    pub ignore_file: String,
    /// False when an ignore file was already there (it is kept).
    pub wrote_ignore: bool,
}

/// Writes a starter pond.json (and `.pondignore` unless one exists) into
/// `dir`. An existing pond.json is kept unless `force`.
pub fn init(dir: &Path, name: &str, stack: Stack, force: bool) -> Result<Initialized, InitError> {
    if !dir.is_dir() {
        return Err(anyhow::anyhow!("{} is not a directory", dir.display()).into());
    }
    let path = dir.join(config::FILE_NAME);
    if path.exists() && !force {
        return Err(anyhow::anyhow!(
            "{} already exists; pass --force to replace it",
            path.display()
        )
        .into());
    }
    if let Err(expected) = config::grammar::project_name(name) {
        return Err(InitError::Invalid(vec![Problem::new(
            "name",
            format!(
                "{} is not a valid project name; {expected}",
                config::show(name)
            ),
        )]));
    }
    let mut file = ProjectFile::starter(name, stack);
    file.web_root = propose_web_root(dir, stack);
    let problems = config::validate(&file, Some(dir));
    if !problems.is_empty() {
        return Err(InitError::Invalid(problems));
    }
    let ignore_path = dir.join(&file.ignore_file);
    let wrote_ignore = !ignore_path.exists();
    if wrote_ignore {
        config::write_atomically(&ignore_path, starter_ignore(stack).as_bytes())
            .with_context(|| format!("writing {}", ignore_path.display()))?;
    }
    config::save(&path, &file).with_context(|| format!("writing {}", path.display()))?;
    Ok(Initialized {
        path,
        ignore_file: file.ignore_file.clone(),
        file,
        wrote_ignore,
    })
}

/// The web root a new project in `dir` should have, found by looking at
/// it: the directory holding the entry page (`public/index.php` →
/// `public`, `index.php` at the top → the project itself), else the stack's
/// usual one.
pub fn propose_web_root(dir: &Path, stack: Stack) -> String {
    let entries: &[&str] = match stack {
        Stack::Php | Stack::Wordpress => &["index.php"],
        Stack::Static => &["index.html", "index.htm"],
    };
    for candidate in ["public", "", "web", "dist", "build", "_site"] {
        if entries
            .iter()
            .any(|e| dir.join(candidate).join(e).is_file())
        {
            return candidate.to_string();
        }
    }
    stack.default_web_root().to_string()
}

/// The starter `.pondignore` for a stack (gitignore syntax).
pub fn starter_ignore(stack: Stack) -> String {
    let mut text = String::from(
        "# Paths Pond never deploys (gitignore syntax). pond.json is never deployed either.\n\
         .git/\n\
         node_modules/\n\
         .env\n\
         *.log\n\
         .DS_Store\n",
    );
    if stack == Stack::Php {
        text.push_str(
            "# Laravel's caches of this machine (Pond builds them on the server):\n/bootstrap/cache/*.php\n",
        );
    }
    for shared in stack.default_shared_paths() {
        text.push_str(&format!(
            "# Persistent on the server (shared_paths), so never uploaded:\n/{shared}/\n"
        ));
    }
    text
}
