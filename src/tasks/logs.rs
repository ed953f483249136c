//! What `pond logs` and the app's Logs view run on each server, and how:
//! the environment's deploy log and the tails of its nginx and PHP error
//! logs, or one process's (or the schedule's) journal (`common/logs`), on
//! every server at once.

use super::Connected;
use super::execute::{self, Step};
use crate::config::ProjectFile;
use crate::ssh::Sink;

/// The step showing `env`'s logs, `lines` of each (clamped to 1–5000);
/// `follow` keeps them open until the connection closes; `process` (a
/// pond.json process or `schedule`) shows its journal instead.
pub fn step(
    file: &ProjectFile,
    env: &str,
    lines: u32,
    follow: bool,
    process: Option<&str>,
) -> anyhow::Result<Step> {
    let users = super::EnvUsers::of(&file.name, env);
    Step::new(
        match process {
            Some(p) => format!("the journal of {p}"),
            None => "the deploy log and error logs".to_string(),
        },
        "common/logs",
        &[
            ("ROOT", &super::env_root(&file.name, env)),
            ("PROJECT", &file.name),
            ("ENV", env),
            ("SITE_USER", &users.site),
            ("LINES", &lines.clamp(1, 5000).to_string()),
            ("FOLLOW", if follow { "yes" } else { "" }),
            ("PROCESS", process.unwrap_or_default()),
            ("UNITS", &super::processes::unit_prefix(&file.name, env)),
        ],
    )
}

/// Runs `step` on every server in `connected` at once, each line to
/// `sink` as it comes; the first failure to run is the error.
pub async fn show(step: &Step, connected: &[Connected], sink: &Sink) -> anyhow::Result<()> {
    let ops: Vec<_> = connected
        .iter()
        .map(|c| step.on(&c.server.endpoint))
        .collect();
    let runs = connected
        .iter()
        .zip(&ops)
        .map(|(c, op)| execute::run(c, op, None, sink));
    for r in futures::future::join_all(runs).await {
        r?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logs_step_has_every_input_the_template_needs() {
        let file = ProjectFile::starter("shop", crate::config::Stack::Php);
        let tails = step(&file, "production", 0, false, None).unwrap();
        assert_eq!(tails.script.template, "common/logs");
        let text = &tails.script.text;
        assert!(
            text.contains("readonly SITE_USER='web_shop_production'"),
            "{text}"
        );
        assert!(text.contains("readonly LINES='1'"), "clamped: {text}");
        assert!(text.contains("readonly FOLLOW=''"), "{text}");
        let journal = step(&file, "production", 50, true, Some("queue")).unwrap();
        assert_eq!(journal.description, "the journal of queue");
        assert!(journal.script.text.contains("readonly PROCESS='queue'"));
        assert!(journal.script.text.contains("readonly FOLLOW='yes'"));
    }
}
