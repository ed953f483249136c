//! What the window receives and sends: plain data shapes, each derived into
//! TypeScript (see `bindings`), converted from the engine's own types. No
//! secret ever appears in a type sent to the window: account tokens go in
//! (`AddAccount`) and never come back out.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use pond::config::{self, Environment, ProjectFile};
use pond::tasks::operate;

mod new_server;
mod status;
pub use new_server::*;
pub use status::*;

/// An engine error as the window shows it: one sentence with its causes,
/// what to do about it when known, and located problems (JSON paths).
#[derive(Debug, Serialize, TS)]
pub struct UiError {
    pub message: String,
    pub hint: Option<String>,
    pub problems: Vec<ProblemView>,
}

impl From<anyhow::Error> for UiError {
    fn from(e: anyhow::Error) -> UiError {
        let message = format!("{e:#}");
        let hint = hint_for(&message);
        UiError {
            message,
            hint,
            problems: vec![],
        }
    }
}

/// What to do about the errors people meet most.
fn hint_for(message: &str) -> Option<String> {
    let hints = [
        (
            "is locked by",
            "Another deploy holds the lock. Wait for it, or break a stale lock from the CLI: pond deploy ENV --break-lock.",
        ),
        (
            "host key",
            "The server presented a different host key. If it was rebuilt on purpose, re-pin it: pond repin ENV DROPLET --expect SHA256:…",
        ),
        (
            "not healthy",
            "Open the preview, fix the app, deploy again; or swap anyway by typing the environment name.",
        ),
        (
            "Unable to authenticate",
            "The DigitalOcean token was refused: check it in Settings → Accounts.",
        ),
        (
            "cannot reach",
            "The server or API did not answer: check the address and your network.",
        ),
    ];
    hints
        .iter()
        .find(|(needle, _)| message.contains(needle))
        .map(|(_, hint)| hint.to_string())
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct ProblemView {
    pub path: String,
    pub message: String,
}

impl From<&config::Problem> for ProblemView {
    fn from(p: &config::Problem) -> ProblemView {
        ProblemView {
            path: p.path.clone(),
            message: p.message.clone(),
        }
    }
}

#[derive(Debug, Serialize, TS)]
pub struct AppInfo {
    pub version: String,
    pub templates: Vec<String>,
}

/// The result of opening a folder.
#[derive(Debug, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Opened {
    Project {
        project: ProjectView,
    },
    /// No pond.json in the folder: offer to create one.
    Missing {
        dir: String,
    },
    /// pond.json is there but not valid: every problem with its JSON path.
    Invalid {
        file: String,
        problems: Vec<ProblemView>,
    },
}

#[derive(Debug, Serialize, TS)]
pub struct ProjectView {
    pub dir: String,
    pub file: String,
    pub name: String,
    pub stack: String,
    pub environments: Vec<EnvView>,
}

#[derive(Debug, Serialize, TS)]
pub struct EnvView {
    pub name: String,
    pub kind: String,
    pub domain: String,
    pub production_url: String,
    pub preview_url: String,
    pub droplets: Vec<DropletView>,
    /// What runs right before a swap, one line each (a database snapshot,
    /// the pre-swap hooks); empty when nothing does.
    pub before_swap: Vec<String>,
    /// Whether Pond manages the environment's database (so a swap with
    /// pre-swap hooks snapshots it and a rollback can restore that).
    pub has_database: bool,
}

#[derive(Debug, Serialize, TS)]
pub struct DropletView {
    pub name: String,
    pub role: String,
    pub address: Option<String>,
    pub pinned: bool,
}

impl ProjectView {
    pub fn new(
        dir: &std::path::Path,
        file_path: &std::path::Path,
        file: &ProjectFile,
    ) -> ProjectView {
        ProjectView {
            dir: dir.display().to_string(),
            file: file_path.display().to_string(),
            name: file.name.clone(),
            stack: file.stack.as_str().to_string(),
            environments: file
                .environments
                .iter()
                .map(|e| EnvView::new(file, e))
                .collect(),
        }
    }
}

impl EnvView {
    fn new(file: &ProjectFile, e: &Environment) -> EnvView {
        let has_database = matches!(
            e.database,
            config::Database::SameDroplet { .. } | config::Database::OtherDroplet { .. }
        );
        let mut before_swap = vec![];
        if !file.hooks.pre_swap.is_empty() {
            if has_database {
                before_swap.push(
                    "a snapshot of the database first (Roll back can restore it)".to_string(),
                );
            }
            for hook in &file.hooks.pre_swap {
                before_swap.push(format!(
                    "pre-swap hook {} (once, on the first web server)",
                    hook.script()
                ));
            }
        }
        EnvView {
            before_swap,
            has_database,
            name: e.name.clone(),
            kind: match e.kind {
                config::EnvironmentKind::Single => "single".into(),
                config::EnvironmentKind::LoadBalanced => "load_balanced".into(),
            },
            domain: e.domain.clone(),
            production_url: format!("http://{}/", e.domain),
            preview_url: format!("http://{}/", operate::preview_host(e, None)),
            droplets: e
                .droplets
                .iter()
                .map(|d| DropletView {
                    name: d.name.clone(),
                    role: format!("{:?}", d.role).to_lowercase(),
                    address: d.address.clone(),
                    pinned: d.host_key.is_some(),
                })
                .collect(),
        }
    }
}

/// Which project and environment a command acts on.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct EnvRef {
    pub dir: String,
    pub env: String,
}

#[derive(Debug, Deserialize, TS)]
pub struct InitRequest {
    pub dir: String,
    pub name: String,
    pub stack: String,
}

/// One line of progress from a running task.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Progress {
    pub host: String,
    /// "step" (a headline), "out" or "err" (the server's own output).
    pub stream: String,
    pub line: String,
}

#[derive(Debug, Deserialize, TS)]
pub struct DeployRequest {
    pub dir: String,
    pub env: String,
    /// Build tag; the project's short git commit when empty.
    pub tag: Option<String>,
    /// Compute what would be sent; change nothing.
    pub dry_run: bool,
    /// An id the window picks so it can cancel this run (`cancel`).
    pub run_id: Option<String>,
}

#[derive(Debug, Serialize, TS)]
pub struct DeployResult {
    pub colour: String,
    pub first: bool,
    pub preview_url: String,
    pub servers: Vec<ServerDeployView>,
    /// The post-deploy hooks that run in the new release (pond.json).
    pub hooks: Vec<String>,
}

#[derive(Debug, Serialize, TS)]
pub struct ServerDeployView {
    pub server: String,
    pub release: String,
    pub files_sent: u32,
    /// Bytes on the wire (compressed), as a number (< 2^53).
    pub bytes_sent: f64,
    pub files_deleted: u32,
    /// What runs on the server, in order: the engine's plan, as a dry run
    /// built it (`pond deploy --dry-run` prints the same).
    pub plan: Vec<PlannedStep>,
}

/// One operation of an engine plan, as the window shows it.
#[derive(Debug, Serialize, TS)]
pub struct PlannedStep {
    pub description: String,
    /// Where it runs ("droplet web-1 (203.0.113.5)").
    pub target: String,
    /// The template it renders (empty for an API request).
    pub template: String,
    /// The script in full, as the server receives it.
    pub script: String,
}

/// An engine plan, as the window shows it.
#[derive(Debug, Serialize, TS)]
pub struct PlanView {
    pub title: String,
    pub steps: Vec<PlannedStep>,
}

impl From<&pond::plan::Plan> for PlanView {
    fn from(plan: &pond::plan::Plan) -> PlanView {
        PlanView {
            title: plan.title.clone(),
            steps: PlannedStep::all(plan),
        }
    }
}

impl PlannedStep {
    /// Each operation of `plan`.
    pub fn all(plan: &pond::plan::Plan) -> Vec<PlannedStep> {
        plan.operations
            .iter()
            .map(|op| {
                let (template, script) = match &op.action {
                    pond::plan::Action::Script { script, .. } => {
                        (script.template.clone(), script.text.clone())
                    }
                    pond::plan::Action::Api(_) => (String::new(), String::new()),
                };
                PlannedStep {
                    description: op.description.clone(),
                    target: op.target.to_string(),
                    template,
                    script,
                }
            })
            .collect()
    }
}

#[derive(Debug, Serialize, TS)]
pub struct HealthView {
    pub server: String,
    pub host: String,
    pub status: u16,
    pub healthy: bool,
    pub details: String,
}

impl From<operate::Health> for HealthView {
    fn from(h: operate::Health) -> HealthView {
        HealthView {
            server: h.server,
            host: h.host,
            status: h.status,
            healthy: h.healthy,
            details: h.details,
        }
    }
}

#[derive(Debug, Deserialize, TS)]
pub struct SwapRequest {
    pub dir: String,
    pub env: String,
    /// Swap even if the inactive colour is unhealthy (logged on the server).
    pub force: bool,
}

#[derive(Debug, Serialize, TS)]
pub struct SwapResult {
    pub live: String,
    pub production_url: String,
}

/// Make a kept release live again (`pond rollback --to`).
#[derive(Debug, Deserialize, TS)]
pub struct RollbackToRequest {
    pub dir: String,
    pub env: String,
    pub release: String,
}

/// What a rollback would run (`pond rollback --dry-run`): to `release`
/// (`--to`), or with none to the release live before the last swap; with
/// `with_data`, checked as restoring that swap's snapshot too.
#[derive(Debug, Deserialize, TS)]
pub struct RollbackPlanRequest {
    pub dir: String,
    pub env: String,
    pub release: Option<String>,
    pub with_data: bool,
}

/// Roll back an environment: the release live before the last swap goes
/// live again; with `with_data`, the database snapshot that swap took is
/// restored too (everything written since is lost).
#[derive(Debug, Deserialize, TS)]
pub struct RollbackRequest {
    pub dir: String,
    pub env: String,
    pub with_data: bool,
}

#[derive(Debug, Serialize, TS)]
pub struct RollbackResult {
    pub live: String,
    pub release: String,
    /// The snapshot restored (with_data).
    pub restored: Option<String>,
    /// The snapshot the undone swap took, left unrestored.
    pub data_left: Option<String>,
}

#[derive(Debug, Deserialize, TS)]
pub struct LogRequest {
    pub dir: String,
    pub env: String,
    pub lines: u32,
}

#[derive(Debug, Serialize, TS)]
pub struct AccountsView {
    /// The keychain in use, or why none is usable.
    pub keychain: String,
    pub keychain_usable: bool,
    pub accounts: Vec<AccountView>,
}

#[derive(Debug, Serialize, TS)]
pub struct AccountView {
    pub name: String,
    pub api_url: String,
    pub email: Option<String>,
    pub token_stored: bool,
    /// Where its servers' certificates come from, in words.
    pub acme: String,
}

/// The only type carrying a token, and only towards the engine.
#[derive(Deserialize, TS)]
pub struct AddAccount {
    pub name: String,
    pub api_url: String,
    pub token: String,
    /// The ACME directory of its servers' certificates (null or empty:
    /// Let's Encrypt).
    pub acme_directory: Option<String>,
    /// A PEM file the servers trust to reach that directory (the lab's).
    pub acme_ca: Option<String>,
}

#[derive(Debug, Serialize, TS)]
pub struct KeyView {
    pub path: String,
    pub fingerprint: String,
    pub public_key: String,
}

/// A value to check with the engine's own grammar (the same rules as
/// pond.json validation).
#[derive(Debug, Deserialize, TS)]
pub struct FieldCheck {
    /// project_name, env_name, account_name, domain, secret_prefix,
    /// db_name, db_user, do_slug, build_tag.
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Serialize, TS)]
pub struct TeamKeyView {
    pub name: String,
    pub public_key: String,
}

#[derive(Debug, Deserialize, TS)]
pub struct TeamKeyRequest {
    pub dir: String,
    pub name: String,
    /// Only a public key line; a private key is refused (and never echoed).
    pub public_key: String,
}

#[derive(Debug, Deserialize, TS)]
pub struct TeamKeyRef {
    pub dir: String,
    pub name: String,
}
