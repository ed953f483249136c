//! One-off commands (`pond exec`): a command runs in the live or inactive
//! release of an environment on one of its web servers, as the site user
//! (PHP's user: it writes only shared paths and tmp), in a transient unit
//! of its own (`common/exec`: stdin closed, stopped after its timeout with
//! everything it started; on the inactive colour only while no deploy holds
//! the lock; never in the placeholder of an environment not deployed yet).
//! Its arguments reach the server each encoded as base64 inside a quoted
//! input, so no shell ever re-reads them; its output streams back (as text
//! lines); its exit code is returned and the run is logged in the
//! environment's `metadata/log.jsonl` (the command's name and how many
//! arguments, not the arguments, which may hold secrets; they are visible
//! in the server's process list while it runs). A cut connection or Ctrl-C
//! does not stop the command: it runs to its end or its timeout.

use anyhow::{Context, bail};
use base64::Engine;

use super::execute::{self, Step};
use super::{Connected, actor};
use crate::config::{DropletRole, Environment, ProjectFile};
use crate::ssh::Sink;

/// Which release a command runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Colour {
    /// The release serving the domain.
    Live,
    /// The release in the inactive colour (what the preview host serves).
    Inactive,
}

impl Colour {
    fn as_str(self) -> &'static str {
        match self {
            Colour::Live => "live",
            Colour::Inactive => "inactive",
        }
    }
}

/// The step that runs `argv` on a web server (pure).
pub fn script(
    file: &ProjectFile,
    env: &Environment,
    colour: Colour,
    argv: &[String],
    timeout_seconds: u32,
) -> anyhow::Result<Step> {
    let Some(program) = argv.first() else {
        bail!("no command given: pond exec ENV -- COMMAND ARGS…");
    };
    if argv.iter().any(|a| a.contains('\0')) {
        bail!("an argument holds a NUL byte, which no command can receive");
    }
    let encoded: Vec<String> = argv
        .iter()
        .map(|a| {
            format!(
                "b{}",
                base64::engine::general_purpose::STANDARD.encode(a.as_bytes())
            )
        })
        .collect();
    let log = super::state::log_line(
        "exec",
        &actor(),
        serde_json::json!({"colour": colour.as_str(), "command": program, "args": argv.len() - 1, "exit": "@@EXIT@@"}),
    );
    Step::new(
        format!("running {program} in the {} release", colour.as_str()),
        "common/exec",
        &[
            ("PROJECT", &file.name),
            ("ENV", &env.name),
            (
                "SITE_USER",
                &super::EnvUsers::of(&file.name, &env.name).site,
            ),
            ("COLOUR", colour.as_str()),
            ("ARGS", &encoded.join(" ")),
            ("TIMEOUT", &timeout_seconds.to_string()),
            ("LOG_LINE", &log),
        ],
    )
}

/// Runs `argv` on the named web server (or the first); returns its exit
/// code. Output goes to `sink` as it comes.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    server: Option<&str>,
    colour: Colour,
    argv: &[String],
    timeout_seconds: u32,
    sink: &Sink,
) -> anyhow::Result<u32> {
    let script = script(file, env, colour, argv, timeout_seconds)?;
    let webs: Vec<&Connected> = connected
        .iter()
        .filter(|c| c.server.role == DropletRole::Web)
        .collect();
    let target = match server {
        Some(name) => webs
            .iter()
            .find(|c| c.server.endpoint.name == name)
            .with_context(|| {
                let names: Vec<&str> = webs
                    .iter()
                    .map(|c| c.server.endpoint.name.as_str())
                    .collect();
                format!(
                    "{} has no web server {name}; it has {}",
                    env.name,
                    names.join(", ")
                )
            })?,
        None => webs
            .first()
            .with_context(|| format!("{} has no web server", env.name))?,
    };
    let op = script.on(&target.server.endpoint);
    Ok(execute::run(target, &op, None, sink).await?.exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_travel_encoded_and_only_the_command_name_is_logged() {
        let file = ProjectFile::starter("shop", crate::config::Stack::Php);
        let env = crate::config::Environment {
            name: "live".into(),
            account: None,
            kind: crate::config::EnvironmentKind::Single,
            region: None,
            size: None,
            image: None,
            domain: "shop.example.com".into(),
            secret_prefix: "k3v9q2x8m1zapt".into(),
            health_path: None,
            database: crate::config::Database::None,
            droplets: vec![],
            load_balancer: None,
            https: Default::default(),
        };
        let argv = vec![
            "php".to_string(),
            "-r".into(),
            "echo 'x; $(rm -rf /)';".into(),
        ];
        let step = script(&file, &env, Colour::Inactive, &argv, 60).unwrap();
        assert_eq!(step.description, "running php in the inactive release");
        let text = &step.script.text;
        assert!(text.contains("readonly COLOUR='inactive'"), "{text}");
        assert!(
            !text.contains("rm -rf"),
            "arguments appear only encoded:\n{text}"
        );
        let encoded = format!(
            "b{}",
            base64::engine::general_purpose::STANDARD.encode(argv[2].as_bytes())
        );
        assert!(text.contains(&encoded), "{text}");
        assert!(
            text.contains(r#"\"command\":\"php\""#) || text.contains(r#""command":"php""#),
            "{text}"
        );
        assert!(script(&file, &env, Colour::Live, &[], 60).is_err());
    }
}
