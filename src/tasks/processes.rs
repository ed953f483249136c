//! The app's long-running processes and its schedule (pond.json
//! `processes`, `schedule`). A deploy writes what the project declares into
//! the release (`.pond/processes.list`, `.pond/process-NAME.sh`,
//! `.pond/schedule.sh`); `common/processes` makes each web server's
//! systemd units match what the *live* release declares, so processes run
//! the live release's code and definitions. It runs after a first deploy
//! and after every swap and rollback (`common/swap` has already restarted
//! the running ones in the new live release by then); a deploy to the
//! inactive colour leaves them alone.

use anyhow::Context;

use super::{Connected, env_root, render};
use crate::config::{DropletRole, Environment, ProjectFile};
use crate::ssh::Sink;

/// The prefix of an environment's unit names: `pond-<project>_<env>`
/// (neither name holds `_`, so it is unambiguous).
pub fn unit_prefix(project: &str, env: &str) -> String {
    format!("pond-{project}_{env}")
}

/// The files a release carries for `common/processes`: the list (always,
/// so a release that declares nothing stops what an older one ran), one
/// script per process, the schedule's script.
pub fn release_files(file: &ProjectFile) -> Vec<(String, Vec<u8>)> {
    let mut list = String::new();
    let mut files = vec![];
    for p in &file.processes {
        list.push_str(&format!(
            "process {} {} {}\n",
            p.name, p.count, p.stop_timeout
        ));
        files.push((
            format!(".pond/process-{}.sh", p.name),
            script_of(&p.command),
        ));
    }
    if !file.schedule.trim().is_empty() {
        list.push_str("schedule\n");
        files.push((".pond/schedule.sh".to_string(), script_of(&file.schedule)));
    }
    files.insert(0, (".pond/processes.list".to_string(), list.into_bytes()));
    files
}

/// A pond.json command as the script bash runs (the command is the user's
/// own shell text, as a hook script is).
fn script_of(command: &str) -> Vec<u8> {
    format!("# Written by Pond from pond.json; run by systemd in the live release.\n{command}\n")
        .into_bytes()
}

/// Applies what the live release declares on each of `servers` (web
/// servers; others are skipped).
pub async fn apply(
    file: &ProjectFile,
    env: &Environment,
    servers: &[&Connected],
    sink: &Sink,
) -> anyhow::Result<()> {
    let users = super::EnvUsers::of(&file.name, &env.name);
    let script = render(
        "common/processes",
        &[
            ("ROOT", &env_root(&file.name, &env.name)),
            ("UNITS", &unit_prefix(&file.name, &env.name)),
            ("SITE_USER", &users.site),
            ("DEPLOY_USER", &users.deploy),
        ],
    )?;
    for c in servers.iter().filter(|c| c.server.role == DropletRole::Web) {
        c.session
            .run_ok("processes and schedule", &script, sink)
            .await
            .with_context(|| {
                format!(
                    "the processes and schedule of {} were not brought in step with the live release on {}",
                    env.name, c.server.endpoint.name
                )
            })?;
    }
    Ok(())
}

/// `pond status`'s lines for one server's processes, schedule and
/// backups: each
/// copy's state, since when, restarts and release (flagged when it is not
/// the live release), and the schedule's last run (flagged when it failed
/// or the timer is stopped). `now` is unix seconds.
pub fn describe(s: &super::operate::ServerStatus, now: u64) -> Vec<String> {
    let live_release = s.live.and_then(|live| {
        s.links
            .iter()
            .find(|(c, _)| c == live.as_str())
            .map(|(_, t)| t.trim_start_matches("releases/").to_string())
    });
    let mut lines = vec![];
    for p in &s.processes {
        let state = match p.state.as_str() {
            "active" => "running",
            "activating" => "starting",
            other => other,
        };
        let mut line = format!("{}@{}: {state}", p.name, p.instance);
        if p.since > 0 && p.since <= now {
            line.push_str(&format!(" for {}", how_long(now - p.since)));
        }
        if let Some(release) = &p.release {
            line.push_str(&format!(", release {release}"));
            if live_release.as_ref().is_some_and(|l| l != release) {
                line.push_str(" (NOT the live release)");
            }
        }
        if p.restarts > 0 {
            line.push_str(&format!(", restarted {} times", p.restarts));
        }
        lines.push(line);
    }
    if let Some(sch) = &s.schedule {
        let mut line = String::from("schedule: ");
        line.push_str(if sch.timer_running {
            "every minute"
        } else {
            "STOPPED (its timer is not running)"
        });
        match (&sch.last_run, sch.last_ok) {
            (Some(at), Some(true)) => line.push_str(&format!("; last run {at} ok")),
            (Some(at), _) => line.push_str(&format!(
                "; last run {at} FAILED ({})",
                sch.last_outcome.as_deref().unwrap_or("?")
            )),
            _ => line.push_str("; no run yet"),
        }
        lines.push(line);
    }
    if s.backup.is_some() || s.backup_timer_running.is_some() {
        let mut line = String::from("backups: ");
        match s.backup_timer_running {
            Some(true) => line.push_str("scheduled"),
            Some(false) => line.push_str("STOPPED (their timer is not running)"),
            None => line.push_str("not scheduled"),
        }
        match &s.backup {
            Some(b) if b.ok => line.push_str(&format!("; last {} ok ({})", b.at, b.detail)),
            Some(b) => line.push_str(&format!("; last {} FAILED: {}", b.at, b.detail)),
            None => line.push_str("; none yet"),
        }
        lines.push(line);
    }
    lines
}

/// Whether a server's processes or schedule need a look: a copy not
/// running, or running another release than the live one; the schedule's
/// timer stopped, or its last run failed.
pub fn needs_attention(s: &super::operate::ServerStatus) -> bool {
    let live_release = s.live.and_then(|live| {
        s.links
            .iter()
            .find(|(c, _)| c == live.as_str())
            .map(|(_, t)| t.trim_start_matches("releases/").to_string())
    });
    let process_trouble = s.processes.iter().any(|p| {
        !matches!(p.state.as_str(), "active" | "activating")
            || (p.release.is_some() && live_release.is_some() && p.release != live_release)
    });
    let schedule_trouble = s
        .schedule
        .as_ref()
        .is_some_and(|sch| !sch.timer_running || sch.last_ok == Some(false));
    let backup_trouble =
        s.backup.as_ref().is_some_and(|b| !b.ok) || s.backup_timer_running == Some(false);
    process_trouble || schedule_trouble || backup_trouble
}

/// A span of seconds as a person says it: `40 s`, `2 min`, `3 h`, `5 d`.
fn how_long(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86400 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_lists_its_processes_and_schedule_with_one_script_each() {
        let mut file = ProjectFile::starter("shop", crate::config::Stack::Php);
        assert_eq!(
            release_files(&file),
            [(".pond/processes.list".to_string(), vec![])],
            "an empty list still goes, so older processes stop"
        );
        file.processes = vec![crate::config::Process {
            name: "queue".into(),
            command: "php artisan queue:work --tries=3".into(),
            count: 2,
            stop_timeout: 90,
        }];
        file.schedule = "php artisan schedule:run".into();
        let files = release_files(&file);
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                ".pond/processes.list",
                ".pond/process-queue.sh",
                ".pond/schedule.sh"
            ]
        );
        assert_eq!(files[0].1, b"process queue 2 90\nschedule\n");
        assert!(
            String::from_utf8_lossy(&files[1].1).ends_with("\nphp artisan queue:work --tries=3\n")
        );
        assert_eq!(unit_prefix("shop", "production"), "pond-shop_production");
    }

    #[test]
    fn status_lines_flag_old_releases_failures_and_a_stopped_timer() {
        use super::super::operate::{ProcessStatus, ScheduleStatus, ServerStatus};
        let s = ServerStatus {
            live: Some(crate::config::Colour::Blue),
            links: vec![("blue".into(), "releases/R2".into())],
            processes: vec![
                ProcessStatus {
                    name: "queue".into(),
                    instance: 1,
                    state: "active".into(),
                    since: 1000,
                    restarts: 0,
                    release: Some("R2".into()),
                },
                ProcessStatus {
                    name: "queue".into(),
                    instance: 2,
                    state: "active".into(),
                    since: 1000,
                    restarts: 3,
                    release: Some("R1".into()),
                },
            ],
            schedule: Some(ScheduleStatus {
                timer_running: false,
                last_run: Some("2026-12-06T03:01:00Z".into()),
                last_ok: Some(false),
                last_outcome: Some("exited 1".into()),
            }),
            ..Default::default()
        };
        assert!(needs_attention(&s));
        let lines = describe(&s, 1120);
        assert_eq!(lines[0], "queue@1: running for 2 min, release R2");
        assert_eq!(
            lines[1],
            "queue@2: running for 2 min, release R1 (NOT the live release), restarted 3 times"
        );
        assert_eq!(
            lines[2],
            "schedule: STOPPED (its timer is not running); last run 2026-12-06T03:01:00Z FAILED (exited 1)"
        );
    }
}
