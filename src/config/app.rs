//! The parts of `pond.json` that describe the app on its servers: config
//! files rendered on deploy, secrets generated there, long-running
//! processes, backups and their schedule, and the hooks run around a
//! deploy. Same rules as [`super::model`]: serde/schemars types, field
//! order is the order on disk, no secrets.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A config file rendered on deploy: non-secret values from pond.json on the
/// client, server-held secrets (DB password) filled in on the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Template in the repo, e.g. `deploy/env.tmpl`.
    pub template: String,
    /// Where the rendered file goes inside each release, e.g. `.env`.
    pub target: String,
}

/// A secret Pond generates on the environment's servers (random bytes,
/// made on the first web server and copied to the others) when unset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GeneratedSecret {
    /// The secret's name, as templates use it: `{{ secrets.APP_KEY }}`.
    pub name: String,
    /// How many random bytes (16 to 256).
    #[serde(default = "default_secret_bytes")]
    #[schemars(range(min = 16, max = 256))]
    pub bytes: u32,
    /// How the bytes are written: `base64` (Laravel's `APP_KEY` after
    /// `base64:`) or `hex`.
    #[serde(default)]
    pub encoding: SecretEncoding,
}

/// How a generated secret's bytes are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretEncoding {
    #[default]
    Base64,
    Hex,
}

fn default_secret_bytes() -> u32 {
    32
}

/// When backups run on their own, and how many of them are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupSchedule {
    /// `hourly`, `daily` or `weekly` (a systemd timer on the servers; a run
    /// missed while a server was off happens when it is back).
    pub schedule: BackupEvery,
    /// How many scheduled backups to keep (the newest).
    #[serde(default = "default_backups_kept")]
    #[schemars(range(min = 1, max = 365))]
    pub keep: u32,
}

/// How often scheduled backups run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackupEvery {
    Hourly,
    Daily,
    Weekly,
}

impl BackupEvery {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupEvery::Hourly => "hourly",
            BackupEvery::Daily => "daily",
            BackupEvery::Weekly => "weekly",
        }
    }
}

fn default_backups_kept() -> u32 {
    7
}

/// A long-running process of the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Process {
    /// Its name: lowercase letters, digits and '-' (`queue`); part of the
    /// systemd unit's name.
    pub name: String,
    /// The shell command, run from the live release as the site user (PHP's
    /// user), e.g. `php artisan queue:work --tries=3`.
    pub command: String,
    /// How many copies run on each web server.
    #[serde(default = "default_process_count")]
    #[schemars(range(min = 1, max = 16))]
    pub count: u32,
    /// Seconds a stopping process gets after SIGTERM before it is killed.
    #[serde(default = "default_stop_timeout")]
    #[schemars(range(min = 1, max = 3600))]
    pub stop_timeout: u32,
}

fn default_process_count() -> u32 {
    1
}

fn default_stop_timeout() -> u32 {
    60
}

/// Hook scripts (paths in the repo), run in order at each point, each in a
/// unit of its own on the server: stdin from /dev/null, stopped after its
/// timeout, and whatever it started ends with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// Commands run on your machine in the project directory before a
    /// deploy sends anything (e.g. `npm ci && npm run build`), in order,
    /// with their output shown; the first that fails stops the deploy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub build: Vec<String>,
    /// Run once a droplet has been provisioned: on each web server as the
    /// environment's deploy user; hooks marked `"run_as": "root"` run as
    /// root on every server.
    #[serde(default)]
    pub post_provision: Vec<Hook>,
    /// Run as the deploy user inside the new release, before it can go live.
    #[serde(default)]
    pub post_deploy: Vec<Hook>,
    /// Run in the release about to go live, right before the swap, on the
    /// first web server only (e.g. `php artisan migrate --force`): after a
    /// snapshot of the environment's database; a failure cancels the swap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_swap: Vec<Hook>,
    /// Run as the deploy user in the live release after a colour went live.
    #[serde(default)]
    pub post_swap: Vec<Hook>,
}

/// One hook: a script path, or a script with whom it runs as and for how
/// long at most.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Hook {
    /// A script in the repo, run as the deploy user for at most 10 minutes.
    Script(String),
    /// A script with its user and timeout.
    Detailed(HookDetails),
}

/// A hook with its settings spelt out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookDetails {
    /// The script, a path in the repo.
    pub script: String,
    /// `deploy` (default): the environment's deploy user, which owns the
    /// releases and which PHP never runs as; `root` only when the hook
    /// must change the system.
    #[serde(default)]
    pub run_as: HookUser,
    /// Seconds before the hook is stopped (and counts as failed).
    #[serde(default = "default_hook_timeout")]
    pub timeout_seconds: u32,
}

/// Whom a hook runs as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookUser {
    #[default]
    Deploy,
    Root,
}

fn default_hook_timeout() -> u32 {
    600
}

impl Hook {
    pub fn script(&self) -> &str {
        match self {
            Hook::Script(s) => s,
            Hook::Detailed(d) => &d.script,
        }
    }

    pub fn run_as(&self) -> HookUser {
        match self {
            Hook::Script(_) => HookUser::Deploy,
            Hook::Detailed(d) => d.run_as,
        }
    }

    pub fn timeout_seconds(&self) -> u32 {
        match self {
            Hook::Script(_) => default_hook_timeout(),
            Hook::Detailed(d) => d.timeout_seconds,
        }
    }

    /// The hook as a line of a template's HOOKS input:
    /// `<timeout seconds> <deploy|root> <script>`.
    pub fn line(&self) -> String {
        let user = match self.run_as() {
            HookUser::Deploy => "deploy",
            HookUser::Root => "root",
        };
        format!("{} {user} {}", self.timeout_seconds(), self.script())
    }
}

/// The HOOKS input of a template: one [`Hook::line`] per hook.
pub fn hook_lines(hooks: &[Hook]) -> String {
    hooks.iter().map(Hook::line).collect::<Vec<_>>().join("\n")
}
