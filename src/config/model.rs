//! The serde/schemars types of `pond.json`, the project file a team commits.
//!
//! These types are the single source of the file's shape: the JSON Schema
//! shipped in `schema/pond.schema.json` is generated from them, and field
//! order here is the key order written to disk (so git diffs stay small).
//! They hold no secrets by construction: accounts are referenced by name,
//! and databases by name and user only. Rules that a schema cannot express
//! (grammars, cross references, files that must exist) live in
//! [`super::validate`]. What the app declares for its servers (config
//! files, generated secrets, processes and the schedule, backups, hooks)
//! is in [`super::app`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::app::{BackupSchedule, ConfigFile, GeneratedSecret, Hooks, Process};

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
