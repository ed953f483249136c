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

use super::execute::{self, Step};
use super::{Connected, env_root};
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
    let step = Step::new(
        "processes and schedule",
        "common/processes",
        &[
            ("ROOT", &env_root(&file.name, &env.name)),
            ("UNITS", &unit_prefix(&file.name, &env.name)),
            ("SITE_USER", &users.site),
            ("DEPLOY_USER", &users.deploy),
        ],
    )?;
    for c in servers.iter().filter(|c| c.server.role == DropletRole::Web) {
        execute::run_ok(c, &step.on(&c.server.endpoint), sink)
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

/// The release the live colour runs on this server.
fn live_release(s: &super::operate::ServerStatus) -> Option<String> {
    s.live.and_then(|live| {
        s.links
            .iter()
            .find(|(c, _)| c == live.as_str())
            .map(|(_, t)| t.trim_start_matches("releases/").to_string())
    })
}

/// A copy in trouble: not running (failed, or crashed and waiting to
/// start again), running without a release (its directory is gone), or
/// running another release than the live one.
fn process_trouble(
    p: &super::operate::ProcessStatus,
    live: Option<&String>,
) -> Option<&'static str> {
    if p.sub_state == "auto-restart" {
        return Some("CRASHED, restarting");
    }
    if !matches!(p.state.as_str(), "active" | "activating") {
        return Some("NOT running");
    }
    match (&p.release, live) {
        (None, _) if p.state == "active" => Some("running from a release that is gone"),
        (Some(r), Some(l)) if r != l => Some("NOT the live release"),
        _ => None,
    }
}

/// The copies the live release declares that systemd does not know.
fn never_started(s: &super::operate::ServerStatus) -> Vec<(String, u32)> {
    s.declared
        .iter()
        .flat_map(|(name, count)| (1..=*count).map(move |i| (name.clone(), i)))
        .filter(|(name, i)| {
            !s.processes
                .iter()
                .any(|p| &p.name == name && p.instance == *i)
        })
        .collect()
}

/// Seconds after which the last backup counts as overdue: twice the
/// period its timer runs at.
fn backup_overdue_after(every: Option<&str>) -> Option<u64> {
    match every? {
        "hourly" => Some(2 * 3600),
        "daily" => Some(2 * 86_400),
        "weekly" => Some(2 * 7 * 86_400),
        _ => None,
    }
}

/// A UTC `YYYY-MM-DDTHH:MM:SSZ` as unix seconds.
fn unix_of(at: &str) -> Option<u64> {
    let t = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

/// What is wrong with the backups here, if anything: the last run failed,
/// or never finished and is overdue, or the timer is stopped, or the last
/// run is older than twice the period.
fn backup_trouble(s: &super::operate::ServerStatus, now: u64) -> Option<String> {
    if s.backup_timer_running == Some(false) {
        return Some("their timer is STOPPED".into());
    }
    let overdue = backup_overdue_after(s.backup_every.as_deref());
    let age = s
        .backup
        .as_ref()
        .and_then(|b| unix_of(&b.at))
        .map(|at| now.saturating_sub(at));
    match (&s.backup, overdue, age) {
        (Some(b), _, _) if !b.ok && !b.running => {
            Some(format!("the last run FAILED: {}", b.detail))
        }
        (Some(b), Some(limit), Some(age)) if b.running && age > limit => {
            Some("the last run started long ago and never finished".into())
        }
        (Some(_), Some(limit), Some(age)) if age > limit => {
            Some("OVERDUE: no backup for longer than twice their period".into())
        }
        _ => None,
    }
}

/// `pond status`'s lines for one server's processes, schedule and
/// backups: each copy's state, since when, restarts and release (flagged
/// when it crashed, is not running or runs another release than the live
/// one), the schedule's last run (flagged when it failed or the timer is
/// stopped), and the last backup (flagged when it failed, never finished
/// or is overdue). `now` is unix seconds.
pub fn describe(s: &super::operate::ServerStatus, now: u64) -> Vec<String> {
    let live = live_release(s);
    let mut lines = vec![];
    for p in &s.processes {
        let state = match (p.state.as_str(), p.sub_state.as_str()) {
            (_, "auto-restart") => "crashed, restarting",
            ("active", _) => "running",
            ("activating", _) => "starting",
            (other, _) => other,
        };
        let mut line = format!("{}@{}: {state}", p.name, p.instance);
        if p.since > 0 && p.since <= now {
            line.push_str(&format!(" for {}", how_long(now - p.since)));
        }
        if let Some(release) = &p.release {
            line.push_str(&format!(", release {release}"));
        }
        if p.restarts > 0 {
            line.push_str(&format!(", restarted {} times", p.restarts));
        }
        if let Some(trouble) = process_trouble(p, live.as_ref()) {
            line.push_str(&format!(" ({trouble})"));
        }
        lines.push(line);
    }
    for (name, instance) in never_started(s) {
        lines.push(format!(
            "{name}@{instance}: NOT started (the live release declares it; the next swap or rollback starts it)"
        ));
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
        match (s.backup_timer_running, s.backup_every.as_deref()) {
            (Some(true), Some(every)) => line.push_str(every),
            (Some(true), None) => line.push_str("scheduled"),
            (Some(false), _) => line.push_str("STOPPED (their timer is not running)"),
            (None, _) => line.push_str("not scheduled"),
        }
        match &s.backup {
            Some(b) if b.running => line.push_str(&format!("; one running since {}", b.at)),
            Some(b) if b.ok => line.push_str(&format!("; last {} ok ({})", b.at, b.detail)),
            Some(b) => line.push_str(&format!("; last {} FAILED: {}", b.at, b.detail)),
            None => line.push_str("; none yet"),
        }
        if let Some(trouble) = backup_trouble(s, now)
            .filter(|t| t.starts_with("OVERDUE") || t.contains("never finished"))
        {
            line.push_str(&format!(" ({trouble})"));
        }
        lines.push(line);
    }
    lines
}

/// Whether a server's processes, schedule or backups need a look (what
/// [`describe`] flags). `now` is unix seconds.
pub fn needs_attention(s: &super::operate::ServerStatus, now: u64) -> bool {
    let live = live_release(s);
    let processes = s
        .processes
        .iter()
        .any(|p| process_trouble(p, live.as_ref()).is_some());
    let schedule = s
        .schedule
        .as_ref()
        .is_some_and(|sch| !sch.timer_running || sch.last_ok == Some(false));
    processes || !never_started(s).is_empty() || schedule || backup_trouble(s, now).is_some()
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
    fn backups_are_flagged_when_failed_unfinished_or_overdue_and_crashes_when_restarting() {
        use super::super::backups::LastRun;
        use super::super::operate::{ProcessStatus, ServerStatus};
        let day = 86_400;
        let at = "2026-12-06T00:00:00Z";
        let t0 = unix_of(at).unwrap();
        let with = |ok: bool, running: bool| ServerStatus {
            backup: Some(LastRun {
                at: at.into(),
                ok,
                running,
                detail: "x".into(),
            }),
            backup_timer_running: Some(true),
            backup_every: Some("daily".into()),
            ..Default::default()
        };
        assert!(!needs_attention(&with(true, false), t0 + day));
        assert!(needs_attention(&with(true, false), t0 + 3 * day), "overdue");
        assert!(describe(&with(true, false), t0 + 3 * day)[0].contains("OVERDUE"));
        assert!(needs_attention(&with(false, false), t0 + 60), "failed");
        assert!(
            !needs_attention(&with(false, true), t0 + 60),
            "running, recently"
        );
        assert!(
            needs_attention(&with(false, true), t0 + 3 * day),
            "never finished"
        );
        let crashed = ServerStatus {
            processes: vec![ProcessStatus {
                name: "queue".into(),
                instance: 1,
                state: "activating".into(),
                sub_state: "auto-restart".into(),
                since: t0,
                restarts: 40,
                release: None,
            }],
            ..Default::default()
        };
        assert!(needs_attention(&crashed, t0 + 5));
        assert!(describe(&crashed, t0 + 5)[0].starts_with("queue@1: crashed, restarting"));
        let missing = ServerStatus {
            declared: vec![("queue".into(), 2)],
            ..crashed
        };
        let lines = describe(&missing, t0 + 5);
        assert!(lines[1].starts_with("queue@2: NOT started"), "{lines:?}");
        assert!(needs_attention(&missing, t0 + 5));
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
                    sub_state: "running".into(),
                    since: 1000,
                    restarts: 0,
                    release: Some("R2".into()),
                },
                ProcessStatus {
                    name: "queue".into(),
                    instance: 2,
                    state: "active".into(),
                    sub_state: "running".into(),
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
        assert!(needs_attention(&s, 1120));
        let lines = describe(&s, 1120);
        assert_eq!(lines[0], "queue@1: running for 2 min, release R2");
        assert_eq!(
            lines[1],
            "queue@2: running for 2 min, release R1, restarted 3 times (NOT the live release)"
        );
        assert_eq!(
            lines[2],
            "schedule: STOPPED (its timer is not running); last run 2026-12-06T03:01:00Z FAILED (exited 1)"
        );
    }
}
