//! What the window receives and sends: plain data shapes, each derived into
//! TypeScript (see `bindings`), converted from the engine's own types. No
//! secret ever appears in a type sent to the window: account tokens go in
//! (`AddAccount`) and never come back out.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use pond::config::{self, Environment, ProjectFile};
use pond::tasks::operate;

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

/// Status of one environment, read from its servers (and a load-balanced
/// one's balancer, through its account).
#[derive(Debug, Serialize, TS)]
pub struct EnvStatus {
    pub env: String,
    /// When the servers answered (UTC, RFC 3339).
    pub checked_at: String,
    /// The domain's URL as served now: `https://` once a certificate is
    /// in place.
    pub production_url: String,
    /// The preview host's URL as served now.
    pub preview_url: String,
    /// A load-balanced environment's HTTPS at its balancer.
    pub balancer_https: Option<String>,
    pub balancer_https_needs_attention: bool,
    pub servers: Vec<ServerView>,
}

#[derive(Debug, Serialize, TS)]
pub struct ServerView {
    pub server: String,
    /// "running", or "unreachable" with `error` saying why.
    pub state: String,
    pub error: Option<String>,
    pub live: Option<String>,
    pub colours: Vec<ColourView>,
    pub services: Vec<ServiceView>,
    /// Free disk in MB.
    pub disk_free_mb: Option<u32>,
    pub releases_on_disk: Vec<String>,
    /// The releases kept here, newest first, with who deployed each when
    /// and which colour points at it (the CLI's `pond releases`).
    pub releases: Vec<ReleaseView>,
    /// Whether the server's Pond-managed SSH keys match pond.json's team
    /// ("in step", or what differs); None when the server did not say.
    pub team_keys: Option<String>,
    /// True when they match.
    pub team_keys_in_step: bool,
    /// What differs from what Pond set up on the server (`pond check`;
    /// team keys are `team_keys`): files it wrote, users, packages,
    /// firewall, templates and settings; empty: in step. None when the
    /// server did not say.
    pub setup: Option<Vec<String>>,
    /// Other environments (`project/env`) the server also hosts.
    pub shared_with: Vec<String>,
    /// The environment's processes and schedule here, one line each
    /// (`queue@1: running for 2 min, release …`; `schedule: every minute;
    /// last run … ok`), as `pond status` prints them.
    pub processes: Vec<String>,
    /// True when a process is not running or runs another release than the
    /// live one, or the schedule's timer is stopped or its last run failed.
    pub processes_need_attention: bool,
    /// The domain's HTTPS here, as `pond status` prints it (what it
    /// serves, the certificate's names, issuer, expiry and next renewal, a
    /// failed renewal first); None when HTTPS was never set up here.
    pub https: Option<String>,
    /// True when the last renewal failed, the renewal timer is stopped,
    /// the certificate expired, or the domain is not served over HTTPS.
    pub https_needs_attention: bool,
}

/// A release kept on a server.
#[derive(Debug, Serialize, TS)]
pub struct ReleaseView {
    pub id: String,
    /// Its tag, time and deployer, as the server recorded them (empty when
    /// the record was trimmed).
    pub tag: String,
    pub at: String,
    pub by: String,
    /// The colours pointing at it.
    pub colours: Vec<String>,
    /// Whether the live colour points at it.
    pub live: bool,
}

#[derive(Debug, Serialize, TS)]
pub struct ColourView {
    pub colour: String,
    pub release: String,
    pub tag: String,
    pub at: String,
    pub by: String,
}

#[derive(Debug, Serialize, TS)]
pub struct ServiceView {
    pub name: String,
    pub running: bool,
}

impl ServerView {
    /// The view of one server's status; `own` is the viewing user's public
    /// key (a sync by them puts it on the server too).
    pub fn of(
        s: operate::ServerStatus,
        file: &pond::config::ProjectFile,
        env: &str,
        own: &str,
    ) -> ServerView {
        let access = s
            .access_keys
            .as_ref()
            .map(|keys| pond::tasks::access::check(file, Some(own), keys, s.access_outside));
        let this = format!("{}/{}", file.name, env);
        let setup = s.drift.clone();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let processes = pond::tasks::processes::describe(&s, now);
        let processes_need_attention = pond::tasks::processes::needs_attention(&s, now);
        let domain = file
            .environments
            .iter()
            .find(|e| e.name == env)
            .map(|e| e.domain.as_str())
            .unwrap_or_default();
        let https = s
            .tls
            .as_ref()
            .map(|t| pond::tasks::tls::describe(domain, t, now as i64));
        let https_needs_attention = s
            .tls
            .as_ref()
            .is_some_and(|t| pond::tasks::tls::needs_attention(t, now as i64));
        let shared_with = s.hosted.iter().filter(|h| **h != this).cloned().collect();
        ServerView {
            setup,
            shared_with,
            processes,
            processes_need_attention,
            https,
            https_needs_attention,
            team_keys: access.as_ref().map(|a| a.describe()),
            team_keys_in_step: access.is_some_and(|a| a.in_step()),
            server: s.server,
            state: if s.error.is_some() {
                "unreachable"
            } else {
                "running"
            }
            .into(),
            error: s.error,
            live: s.live.map(|c| c.as_str().to_string()),
            colours: s
                .state
                .colours
                .iter()
                .map(|(c, st)| ColourView {
                    colour: c.as_str().into(),
                    release: st.release.clone(),
                    tag: st.tag.clone(),
                    at: st.at.clone(),
                    by: st.by.clone(),
                })
                .collect(),
            services: s
                .services
                .into_iter()
                .map(|(name, running)| ServiceView { name, running })
                .collect(),
            disk_free_mb: s.disk_free.map(|bytes| (bytes / (1024 * 1024)) as u32),
            releases: s
                .releases_on_disk
                .iter()
                .rev()
                .map(|id| {
                    let record = s.state.releases.iter().rev().find(|r| &r.id == id);
                    let colours: Vec<String> = s
                        .links
                        .iter()
                        .filter(|(_, target)| target.trim_start_matches("releases/") == id)
                        .map(|(c, _)| c.clone())
                        .collect();
                    let live = s
                        .live
                        .is_some_and(|l| colours.iter().any(|c| c == l.as_str()));
                    ReleaseView {
                        id: id.clone(),
                        tag: record.map(|r| r.tag.clone()).unwrap_or_default(),
                        at: record.map(|r| r.at.clone()).unwrap_or_default(),
                        by: record.map(|r| r.by.clone()).unwrap_or_default(),
                        colours,
                        live,
                    }
                })
                .collect(),
            releases_on_disk: s.releases_on_disk,
        }
    }
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

/// What the wizard can offer, from the account's API.
#[derive(Debug, Serialize, TS)]
pub struct CatalogView {
    pub regions: Vec<RegionView>,
    pub sizes: Vec<SizeView>,
    /// Tested images first, newest first; then the rest.
    pub images: Vec<ImageView>,
    /// The image a new server gets unless the user picks another.
    pub default_image: String,
}

#[derive(Debug, Serialize, TS)]
pub struct RegionView {
    pub slug: String,
    pub name: String,
    pub available: bool,
}

#[derive(Debug, Serialize, TS)]
pub struct SizeView {
    pub slug: String,
    pub memory_mb: u32,
    pub vcpus: u32,
    pub disk_gb: u32,
    pub price_monthly: f64,
    pub regions: Vec<String>,
}

#[derive(Debug, Serialize, TS)]
pub struct ImageView {
    pub slug: String,
    /// "Debian 13 x64"; untested images end in "(not tested by Pond)".
    pub label: String,
    /// Pond's tests run on this image.
    pub tested: bool,
}

impl From<pond::digitalocean::Catalog> for CatalogView {
    fn from(c: pond::digitalocean::Catalog) -> CatalogView {
        CatalogView {
            regions: c
                .regions
                .into_iter()
                .map(|r| RegionView {
                    slug: r.slug,
                    name: r.name,
                    available: r.available,
                })
                .collect(),
            sizes: c
                .sizes
                .into_iter()
                .map(|s| SizeView {
                    slug: s.slug,
                    memory_mb: s.memory_mb,
                    vcpus: s.vcpus,
                    disk_gb: s.disk_gb,
                    price_monthly: s.price_monthly,
                    regions: s.regions,
                })
                .collect(),
            images: c
                .images
                .into_iter()
                .map(|i| ImageView {
                    slug: i.slug,
                    label: i.label,
                    tested: i.tested,
                })
                .collect(),
            default_image: c.default_image,
        }
    }
}

#[derive(Debug, Deserialize, TS)]
pub struct DomainCheckRequest {
    pub account: String,
    pub domain: String,
}

#[derive(Debug, Serialize, TS)]
pub struct DomainCheck {
    /// DigitalOcean's DNS hosts the domain in this account already.
    pub hosted: bool,
    /// DNS delegates the domain's zone to DigitalOcean's name servers (None:
    /// not known).
    pub delegated: Option<bool>,
    /// What the user must know about name servers.
    pub note: String,
}

/// The wizard's answers.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct NewServerRequest {
    pub dir: String,
    pub account: String,
    pub env: String,
    pub region: String,
    pub size: String,
    pub image: String,
    pub domain: String,
    /// "same" (MariaDB on the web droplet), "droplet" (a new database
    /// droplet), "host:IPV4" (an existing server) or "none".
    pub database: String,
    /// "single" or "load_balanced".
    pub kind: String,
    /// Web droplets of a load-balanced environment (1-20).
    pub droplets: u32,
    pub db_dump: Option<String>,
    /// A database to copy, `ssh://USER@HOST[:PORT]/DATABASE`.
    pub db_from: Option<String>,
    pub attachments: Option<String>,
    pub tag: String,
    pub secret_prefix: String,
    /// A droplet the account already runs to put the environment on
    /// (`account_droplets`); none: new droplets.
    pub on: Option<String>,
    /// Names the run for `cancel` (which stops it at its next step).
    pub run_id: Option<String>,
}

#[derive(Debug, Serialize, TS)]
pub struct NewServerPlan {
    pub lines: Vec<String>,
    /// Droplets the run creates.
    pub droplets: u32,
    /// Their monthly price together, when the size's price is known.
    pub price_monthly: Option<f64>,
}

#[derive(Debug, Serialize, TS)]
pub struct UrlsView {
    pub production: String,
    pub preview: String,
    pub blue: String,
    pub green: String,
    /// Why the domain is not on HTTPS yet (null: it is, or HTTPS is off).
    pub https_problem: Option<String>,
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
