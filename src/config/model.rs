//! The serde/schemars types of `pond.json`, the project file a team commits.
//!
//! These types are the single source of the file's shape: the JSON Schema
//! shipped in `schema/pond.schema.json` is generated from them, and field
//! order here is the key order written to disk (so git diffs stay small).
//! They hold no secrets by construction: accounts are referenced by name,
//! and databases by name and user only. Rules that a schema cannot express
//! (grammars, cross references, files that must exist) live in
//! [`super::validate`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The schema version this build of Pond reads and writes.
pub const CURRENT_SCHEMA_VERSION: u32 = 1;

/// A Pond project file (`pond.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "pond.json")]
pub struct ProjectFile {
    /// Version of this file's format; Pond migrates older files on load.
    pub schema_version: u32,
    /// Project name: lowercase letters, digits and '-'; used in server paths
    /// (`/var/www/pond/projects/<name>`) and droplet tags (`pond-<name>`).
    pub name: String,
    /// What kind of app this is; picks the provisioning templates.
    pub stack: Stack,
    /// URL path that must answer 2xx/3xx before a colour may go live.
    #[serde(default = "default_health_path")]
    pub health_path: String,
    /// How many releases to keep on each server (at least 2: blue and green).
    #[serde(default = "default_keep_builds")]
    #[schemars(range(min = 2, max = 50))]
    pub keep_builds: u32,
    /// File with gitignore-style patterns of what never gets deployed.
    #[serde(default = "default_ignore_file")]
    pub ignore_file: String,
    /// Directory inside a release that the web server serves, e.g. `public`
    /// for Laravel (empty: the release itself).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub web_root: String,
    /// Persistent paths kept across releases and linked into each one
    /// (like `storage` for Laravel or `wp-content/uploads` for WordPress).
    #[serde(default)]
    pub shared_paths: Vec<String>,
    /// Config files rendered from templates in the repo at deploy time.
    #[serde(default)]
    pub config_files: Vec<ConfigFile>,
    /// App secrets Pond makes on the servers when a deploy finds them unset
    /// (e.g. Laravel's `APP_KEY`), so a first deploy needs no `pond secret`
    /// step; a secret already set is never changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generated_secrets: Vec<GeneratedSecret>,
    /// Scripts in the repo run on the server at fixed points.
    #[serde(default)]
    pub hooks: Hooks,
    /// Long-running processes of the app (queue workers, daemons), run on
    /// each web server as systemd units of the environment in the live
    /// release, restarted by every swap and rollback.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<Process>,
    /// A command run every minute in the live release (e.g. `php artisan
    /// schedule:run`) by a systemd timer on each web server; each run's
    /// time and outcome are recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub schedule: String,
    /// Scheduled backups of each environment's database and shared paths,
    /// made on its servers (`pond backup` makes one at any time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<BackupSchedule>,
    /// DigitalOcean accounts this project uses, by name only; each user maps
    /// a name to a token kept in their own OS keychain.
    #[serde(default)]
    pub accounts: Vec<AccountRef>,
    /// Public keys of the team, kept in the project's block of each
    /// server's `authorized_keys` by provision, deploy and `pond access sync`.
    #[serde(default)]
    pub team_keys: Vec<TeamKey>,
    /// Production, staging, ...
    #[serde(default)]
    pub environments: Vec<Environment>,
}

/// The application stack, which selects the provisioning templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stack {
    /// nginx + PHP-FPM (Laravel, October CMS, plain PHP).
    Php,
    /// nginx serving files only.
    Static,
    /// nginx + PHP-FPM with WordPress defaults.
    Wordpress,
}

impl Stack {
    /// All stacks, for prompts and help texts.
    pub const ALL: [Stack; 3] = [Stack::Php, Stack::Static, Stack::Wordpress];

    /// The name used in pond.json and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Stack::Php => "php",
            Stack::Static => "static",
            Stack::Wordpress => "wordpress",
        }
    }

    /// The web root a new project of this stack starts with.
    pub fn default_web_root(self) -> &'static str {
        match self {
            Stack::Php => "public",
            Stack::Static | Stack::Wordpress => "",
        }
    }

    /// Shared (persistent) paths a new project of this stack starts with.
    pub fn default_shared_paths(self) -> Vec<String> {
        match self {
            Stack::Php => vec!["storage".into()],
            Stack::Wordpress => vec!["wp-content/uploads".into()],
            Stack::Static => vec![],
        }
    }
}

impl std::str::FromStr for Stack {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stack::ALL
            .into_iter()
            .find(|stack| stack.as_str() == s)
            .ok_or_else(|| format!("unknown stack {s:?}; expected one of php, static, wordpress"))
    }
}

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

/// A DigitalOcean account referenced by name; never a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRef {
    /// The name each user registers with `pond account add NAME`.
    pub name: String,
}

/// A team member's public SSH key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamKey {
    /// Who this key belongs to.
    pub name: String,
    /// One OpenSSH public key line.
    pub public_key: String,
}

/// One deployment target: a single droplet or several behind a load balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// `production`, `staging`, ...; unique within the project.
    pub name: String,
    /// Name of an entry in `accounts`; absent for servers attached with
    /// `pond attach` that Pond did not create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// `single` or `load_balanced`.
    #[serde(rename = "type")]
    pub kind: EnvironmentKind,
    /// DigitalOcean region slug, e.g. `ams3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// DigitalOcean size slug, e.g. `s-1vcpu-1gb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// DigitalOcean image slug, e.g. `debian-13-x64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The production host name of this environment.
    pub domain: String,
    /// Secret first label of the preview hosts (`<prefix>.<domain>`,
    /// `<prefix>-blue.<domain>`, `<prefix>-green.<domain>`).
    pub secret_prefix: String,
    /// Overrides the project's `health_path` for this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_path: Option<String>,
    /// Where the database lives.
    pub database: Database,
    /// The droplets of this environment, once created.
    #[serde(default)]
    pub droplets: Vec<Droplet>,
    /// The load balancer of a `load_balanced` environment, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancer>,
    /// HTTPS for the domain (on by default).
    #[serde(default, skip_serializing_if = "Https::is_default")]
    pub https: Https,
}

/// HTTPS for an environment's domain: a Let's Encrypt certificate for
/// `domain` (and `www.<domain>` when it points at the server), obtained and
/// renewed on the server, with HTTP redirected to HTTPS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Https {
    /// `false`: serve plain HTTP only (e.g. behind a proxy that terminates
    /// TLS); no certificate is requested.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Send `Strict-Transport-Security` (two years) once HTTPS is served:
    /// browsers then refuse plain HTTP for the domain. Opt-in, because it
    /// cannot be taken back before it expires.
    #[serde(default)]
    pub hsts: bool,
}

fn yes() -> bool {
    true
}

impl Default for Https {
    fn default() -> Https {
        Https {
            enabled: true,
            hsts: false,
        }
    }
}

impl Https {
    pub fn is_default(&self) -> bool {
        *self == Https::default()
    }
}

impl Environment {
    /// The health-check path in effect for this environment.
    pub fn health_path<'a>(&'a self, project: &'a ProjectFile) -> &'a str {
        self.health_path.as_deref().unwrap_or(&project.health_path)
    }
}

/// Shape of an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentKind {
    /// One web droplet.
    Single,
    /// Several web droplets behind a DigitalOcean load balancer.
    LoadBalanced,
}

/// What a droplet is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DropletRole {
    /// Serves the app (nginx + the colours).
    #[default]
    Web,
    /// Runs only the database.
    Database,
}

/// A droplet of an environment, with its pinned SSH host key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Droplet {
    /// Droplet (host) name.
    pub name: String,
    /// DigitalOcean droplet id, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// `web` (default) or `database`.
    #[serde(default)]
    pub role: DropletRole,
    /// Public IPv4 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// SSH user Pond logs in as (default root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_user: Option<String>,
    /// Private-network IPv4 address (used to reach a separate DB droplet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_address: Option<String>,
    /// SHA256 fingerprint of the droplet's SSH host key, pinned on first
    /// connect; a different key is refused until re-pinned on purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
    /// True when the environment was put on a droplet that already ran
    /// (`pond create --on`): `pond destroy` removes the environment from it
    /// and never deletes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub joined: bool,
}

/// A DigitalOcean load balancer in front of a `load_balanced` environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// Load balancer name.
    pub name: String,
    /// DigitalOcean load balancer id (a UUID), once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Where an environment's database lives. Only names: the password is
/// generated on the server and never leaves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "placement", rename_all = "snake_case", deny_unknown_fields)]
pub enum Database {
    /// The app needs no database.
    None,
    /// MariaDB on the web droplet itself.
    SameDroplet {
        /// Database name.
        name: String,
        /// Database user.
        user: String,
    },
    /// MariaDB on a droplet of this environment with role `database`,
    /// reached over the private network.
    OtherDroplet {
        /// Name of the database droplet in `droplets`.
        droplet: String,
        /// Database name.
        name: String,
        /// Database user.
        user: String,
    },
    /// A database server Pond does not manage.
    External {
        /// Host name or IPv4 address.
        host: String,
        /// TCP port.
        #[serde(default = "default_db_port")]
        port: u16,
        /// Database name.
        name: String,
        /// Database user.
        user: String,
    },
}

/// The two colours of an environment. Which one is live is the server's
/// truth (its `state.json`), never stored in pond.json.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    Blue,
    Green,
}

impl Colour {
    /// The colour that is not `self`.
    pub fn other(self) -> Colour {
        match self {
            Colour::Blue => Colour::Green,
            Colour::Green => Colour::Blue,
        }
    }

    /// Lowercase name, as used in directory and host names.
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Blue => "blue",
            Colour::Green => "green",
        }
    }
}

fn default_health_path() -> String {
    "/".into()
}
fn default_keep_builds() -> u32 {
    5
}
fn default_ignore_file() -> String {
    ".pondignore".into()
}
fn default_db_port() -> u16 {
    3306
}

impl ProjectFile {
    /// A starter project with no environments yet.
    pub fn starter(name: &str, stack: Stack) -> ProjectFile {
        ProjectFile {
            schema_version: CURRENT_SCHEMA_VERSION,
            name: name.to_string(),
            stack,
            health_path: default_health_path(),
            keep_builds: default_keep_builds(),
            ignore_file: default_ignore_file(),
            web_root: stack.default_web_root().to_string(),
            shared_paths: stack.default_shared_paths(),
            config_files: vec![],
            generated_secrets: vec![],
            hooks: Hooks::default(),
            processes: vec![],
            schedule: String::new(),
            backups: None,
            accounts: vec![],
            team_keys: vec![],
            environments: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_alternate() {
        assert_eq!(Colour::Blue.other(), Colour::Green);
        assert_eq!(Colour::Green.other().as_str(), "blue");
    }

    #[test]
    fn stack_parses_its_own_names() {
        for stack in Stack::ALL {
            assert_eq!(stack.as_str().parse::<Stack>(), Ok(stack));
        }
        assert!("rails".parse::<Stack>().is_err());
    }
}
