//! Rules of pond.json that the JSON Schema cannot say: grammars of names,
//! uniqueness, cross references (environment → account, database droplet,
//! config files inside shared paths), and hook/template files that must
//! exist in the repository.
//!
//! A value that reaches a template input is checked with the grammar that
//! the template itself declares for that input ([`builtin_input`]), so a
//! file that loads is a file every command can render: `pond validate` and
//! provisioning cannot disagree.
//!
//! Validation never stops at the first mistake: it walks the whole file and
//! returns every [`Problem`], each with the JSON path of the offending value.

use std::collections::HashMap;
use std::path::Path;

use super::Problem;
use super::grammar::{self, Check};
use super::model::{Database, DropletRole, EnvironmentKind, ProjectFile};
use crate::plan::template::builtin_input;

mod environments;
use environments::{validate_environments, validate_shared_databases};

/// A template input that a pond.json value reaches: (template id, input).
type Reaches = (&'static str, &'static str);

const PROJECT: Reaches = ("common/site", "PROJECT");
const ENV: Reaches = ("common/site", "ENV");
const DOMAIN: Reaches = ("common/site", "DOMAIN");
const SECRET_PREFIX: Reaches = ("common/site", "SECRET_PREFIX");
const WEB_ROOT: Reaches = ("common/site", "WEB_ROOT");
const HEALTH_PATH: Reaches = ("common/health", "HEALTH_PATH");
const SHARED: Reaches = ("common/attachments", "SHARED");
const DB_NAME: Reaches = ("mysql/database", "DB_NAME");
const DB_USER: Reaches = ("mysql/database", "DB_USER");

/// Collects problems while walking the file.
struct Walker {
    problems: Vec<Problem>,
}

impl Walker {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    /// Applies a grammar check to a value and records a failure as
    /// `<path>: "<value>" is not a valid <what>; <expected>`.
    fn check(&mut self, path: &str, value: &str, what: &str, check: impl Fn(&str) -> Check) {
        if let Err(expected) = check(value) {
            self.push(
                path,
                format!("{} is not a valid {what}; {expected}", show(value)),
            );
        }
    }

    /// Checks a value that reaches a template input with the grammar that
    /// template declares for it.
    fn input(&mut self, path: &str, value: &str, what: &str, (id, name): Reaches) {
        let input = builtin_input(id, name);
        self.check(path, value, what, |v| input.check(v));
    }

    /// Records a problem for every value seen before under another path.
    fn unique<'a>(
        &mut self,
        seen: &mut HashMap<&'a str, String>,
        path: String,
        value: &'a str,
        what: &str,
    ) {
        if let Some(first) = seen.get(value) {
            self.push(
                path,
                format!("{what} {} is already used by {first}", show(value)),
            );
        } else {
            seen.insert(value, path);
        }
    }

    /// A repository path that must name an existing file under `root`.
    fn existing_file(&mut self, path: &str, value: &str, what: &str, root: Option<&Path>) {
        if grammar::repo_path(value).is_err() {
            self.check(path, value, what, grammar::repo_path);
            return;
        }
        if let Some(root) = root {
            let full = root.join(value);
            if !full.is_file() {
                self.push(
                    path,
                    format!(
                        "{what} {} does not exist (looked for {})",
                        show(value),
                        full.display()
                    ),
                );
            }
        }
    }
}

/// Shows a user-supplied value in a message: quoted, escaped (so newlines or
/// terminal escapes cannot garble the output) and shortened.
pub fn show(value: &str) -> String {
    const MAX: usize = 60;
    if value.chars().count() > MAX {
        let head: String = value.chars().take(MAX).collect();
        format!("{head:?}… ({} characters)", value.chars().count())
    } else {
        format!("{value:?}")
    }
}

/// Checks everything beyond the schema. `root` is the directory holding
/// pond.json; when given, hook and template files must exist under it.
pub fn validate(file: &ProjectFile, root: Option<&Path>) -> Vec<Problem> {
    let mut w = Walker { problems: vec![] };

    w.input("name", &file.name, "project name", PROJECT);
    w.input(
        "health_path",
        &file.health_path,
        "health-check path",
        HEALTH_PATH,
    );
    w.input("web_root", &file.web_root, "web root", WEB_ROOT);
    if !(2..=50).contains(&file.keep_builds) {
        w.push(
            "keep_builds",
            format!(
                "{} is out of range; expected 2-50 (blue and green need two releases)",
                file.keep_builds
            ),
        );
    }
    w.check(
        "ignore_file",
        &file.ignore_file,
        "ignore file path",
        grammar::repo_path,
    );

    let mut seen = HashMap::new();
    for (i, p) in file.shared_paths.iter().enumerate() {
        let path = format!("shared_paths[{i}]");
        w.input(&path, p, "shared path", SHARED);
        w.unique(&mut seen, path.clone(), p, "shared path");
        let inside = |outer: &str, inner: &str| inner.starts_with(&format!("{outer}/"));
        let valid = |s: &str| grammar::shared_path(s).is_ok();
        if let Some((j, outer)) = file
            .shared_paths
            .iter()
            .enumerate()
            .filter(|(_, o)| valid(o) && valid(p))
            .find(|(_, o)| inside(o, p))
        {
            w.push(
                &path,
                format!(
                    "{} is inside shared path {} (shared_paths[{j}]); list only the outer one",
                    show(p),
                    show(outer)
                ),
            );
        }
        // The web root through a shared path would serve (and run PHP
        // from) what the site itself writes.
        if !file.web_root.is_empty()
            && valid(p)
            && (file.web_root == *p || inside(p, &file.web_root))
        {
            // Reported on the list, not on either field: each is valid alone.
            w.push(
                "shared_paths",
                format!(
                    "{path} {} holds the web root {}; the site would serve and run what it writes itself",
                    show(p),
                    show(&file.web_root)
                ),
            );
        }
    }

    let mut targets = HashMap::new();
    for (i, c) in file.config_files.iter().enumerate() {
        w.existing_file(
            &format!("config_files[{i}].template"),
            &c.template,
            "template",
            root,
        );
        let path = format!("config_files[{i}].target");
        w.check(
            &path,
            &c.target,
            "config file target",
            grammar::config_target,
        );
        if let Some((j, shared)) = file
            .shared_paths
            .iter()
            .enumerate()
            .filter(|(_, s)| grammar::shared_path(s).is_ok())
            .find(|(_, s)| c.target == **s || c.target.starts_with(&format!("{s}/")))
        {
            w.push(
                &path,
                format!(
                    "{} is inside shared path {} (shared_paths[{j}]): it would be written into \
                     the persistent data every release shares; put it outside the shared paths",
                    show(&c.target),
                    show(shared)
                ),
            );
        }
        w.unique(&mut targets, path, &c.target, "target");
    }

    for (point, hooks) in [
        ("post_provision", &file.hooks.post_provision),
        ("post_deploy", &file.hooks.post_deploy),
        ("pre_swap", &file.hooks.pre_swap),
        ("post_swap", &file.hooks.post_swap),
    ] {
        for (i, h) in hooks.iter().enumerate() {
            let at = match h {
                crate::config::Hook::Script(_) => format!("hooks.{point}[{i}]"),
                crate::config::Hook::Detailed(_) => format!("hooks.{point}[{i}].script"),
            };
            w.existing_file(&at, h.script(), "hook script", root);
            if !(1..=86_400).contains(&h.timeout_seconds()) {
                w.push(
                    format!("hooks.{point}[{i}].timeout_seconds"),
                    format!(
                        "{} is not a timeout; expected 1 to 86400 seconds",
                        h.timeout_seconds()
                    ),
                );
            }
        }
    }

    let mut processes = HashMap::new();
    for (i, process) in file.processes.iter().enumerate() {
        let path = format!("processes[{i}].name");
        w.check(&path, &process.name, "process name", grammar::process_name);
        if process.name == "schedule" {
            w.push(
                path.clone(),
                "\"schedule\" names pond.json's schedule (pond logs --process schedule); choose another name",
            );
        }
        w.unique(&mut processes, path, &process.name, "process name");
        if process.command.trim().is_empty() || process.command.contains('\0') {
            w.push(
                format!("processes[{i}].command"),
                "is not a command; expected a shell command such as \"php artisan queue:work\"",
            );
        }
        if !(1..=16).contains(&process.count) {
            w.push(
                format!("processes[{i}].count"),
                format!("{} copies: expected 1 to 16", process.count),
            );
        }
        if !(1..=3600).contains(&process.stop_timeout) {
            w.push(
                format!("processes[{i}].stop_timeout"),
                format!(
                    "{} is not a timeout; expected 1 to 3600 seconds",
                    process.stop_timeout
                ),
            );
        }
    }
    if file.schedule.contains('\0')
        || (!file.schedule.is_empty() && file.schedule.trim().is_empty())
    {
        w.push(
            "schedule",
            "is not a command; expected a shell command such as \"php artisan schedule:run\"",
        );
    }

    if let Some(b) = &file.backups
        && !(1..=365).contains(&b.keep)
    {
        w.push(
            "backups.keep",
            format!("{} backups: expected to keep 1 to 365", b.keep),
        );
    }

    let mut generated = HashMap::new();
    for (i, secret) in file.generated_secrets.iter().enumerate() {
        let path = format!("generated_secrets[{i}].name");
        w.check(&path, &secret.name, "secret name", grammar::secret_name);
        w.unique(&mut generated, path, &secret.name, "secret name");
        if !(16..=256).contains(&secret.bytes) {
            w.push(
                format!("generated_secrets[{i}].bytes"),
                format!(
                    "{} is not a size; expected 16 to 256 random bytes",
                    secret.bytes
                ),
            );
        }
    }

    for (i, command) in file.hooks.build.iter().enumerate() {
        if command.trim().is_empty() || command.contains('\0') {
            w.push(
                format!("hooks.build[{i}]"),
                "is not a command; expected a shell command such as \"npm ci && npm run build\"",
            );
        }
    }

    let mut accounts = HashMap::new();
    for (i, a) in file.accounts.iter().enumerate() {
        let path = format!("accounts[{i}].name");
        w.check(&path, &a.name, "account name", grammar::account_name);
        w.unique(&mut accounts, path, &a.name, "account name");
    }

    let mut members = HashMap::new();
    let mut keys = HashMap::new();
    for (i, k) in file.team_keys.iter().enumerate() {
        let path = format!("team_keys[{i}].name");
        w.check(&path, &k.name, "team member name", grammar::member_name);
        w.unique(&mut members, path, &k.name, "team member name");
        let path = format!("team_keys[{i}].public_key");
        if k.public_key.contains("PRIVATE KEY") {
            // Never echo it back: say what it is and what to use instead.
            w.push(
                &path,
                "is a PRIVATE key, which must never be shared or committed; \
                 use the one line of its .pub file instead"
                    .to_string(),
            );
            continue;
        }
        w.check(&path, &k.public_key, "public key", grammar::public_key);
        w.unique(&mut keys, path, &k.public_key, "public key");
    }

    validate_environments(&mut w, file);
    validate_shared_databases(&mut w, file);
    w.problems
}
