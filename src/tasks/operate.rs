//! Reading a deployed environment: the health check of the inactive
//! colour, the live colour, and the status of every server in one round
//! trip each (with what differs from what provisioning set up, and which
//! other environments share the server). Changing what is live is [`super::swap`].

use anyhow::{Context, bail};

use super::state::ServerState;
use super::{Connected, env_root, execute};
use crate::config::{Colour, DropletRole, Environment, ProjectFile};
use crate::plan::report::Report;
use crate::ssh::{Sink, Stream};

/// The result of a health check on one server.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    pub server: String,
    pub host: String,
    pub status: u16,
    pub healthy: bool,
    /// Body excerpt and error-log tails when unhealthy.
    pub details: String,
}

/// What one server reports.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ServerStatus {
    pub server: String,
    pub reachable: bool,
    pub error: Option<String>,
    pub live: Option<Colour>,
    pub links: Vec<(String, String)>,
    pub state: ServerState,
    pub last: Option<serde_json::Value>,
    pub services: Vec<(String, bool)>,
    pub disk_free: Option<u64>,
    /// Release directories present on the server.
    pub releases_on_disk: Vec<String>,
    /// The key blobs in Pond's block of the login user's authorized_keys
    /// (None: the server did not say).
    pub access_keys: Option<Vec<String>>,
    /// How many keys the login user's authorized_keys holds outside it.
    pub access_outside: usize,
    /// Every environment the server hosts, as `project/env` (this one and
    /// others sharing the server).
    pub hosted: Vec<String>,
    /// What differs from what provisioning set up for this environment
    /// (templates and settings, the files Pond wrote, its users, packages,
    /// the firewall); empty: in step; None: the server did not say.
    pub drift: Option<Vec<String>>,
    /// Each running (or failed) copy of the environment's processes here.
    pub processes: Vec<ProcessStatus>,
    /// The processes the live release declares: (name, how many copies).
    pub declared: Vec<(String, u32)>,
    /// The schedule's timer and last run (None: no schedule here).
    pub schedule: Option<ScheduleStatus>,
    /// The last backup run on this server (None: none yet).
    pub backup: Option<super::backups::LastRun>,
    /// Whether scheduled backups' timer is running (None: none here).
    pub backup_timer_running: Option<bool>,
    /// How often they run (`hourly`, `daily`, `weekly`), as the timer says.
    pub backup_every: Option<String>,
    /// The domain's certificate here (None: HTTPS never set up here).
    pub tls: Option<super::tls::TlsStatus>,
}

/// One copy of a process (pond.json `processes`) on one server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProcessStatus {
    pub name: String,
    /// Which copy (1 to its count).
    pub instance: u32,
    /// systemd's state: `active`, `activating` (restarting), `failed`,
    /// `inactive`, ...
    pub state: String,
    /// systemd's sub-state: `running`, `auto-restart` (crashed, waiting
    /// to start again), `failed`, ...
    pub sub_state: String,
    /// When it entered that state (unix seconds; 0: unknown).
    pub since: u64,
    /// How often systemd restarted it after it stopped.
    pub restarts: u32,
    /// The release it runs (None: not running).
    pub release: Option<String>,
}

/// The schedule on one server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScheduleStatus {
    /// Whether its every-minute timer is running.
    pub timer_running: bool,
    /// The last run: when (UTC, RFC 3339), and whether it succeeded.
    pub last_run: Option<String>,
    pub last_ok: Option<bool>,
    /// systemd's words for how the last run ended (`exited 1`, ...).
    pub last_outcome: Option<String>,
}

/// The preview host names of an environment.
pub fn preview_host(env: &Environment, colour: Option<Colour>) -> String {
    match colour {
        None => format!("{}.{}", env.secret_prefix, env.domain),
        Some(c) => format!("{}-{}.{}", env.secret_prefix, c.as_str(), env.domain),
    }
}

/// An environment's URLs as they are served now: `https://` once a
/// certificate is in place for them, `http://` otherwise.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ServedUrls {
    pub production: String,
    pub preview: String,
}

impl ServedUrls {
    pub fn new(env: &Environment, domain_https: bool, previews_https: bool) -> ServedUrls {
        let scheme = |https: bool| if https { "https" } else { "http" };
        ServedUrls {
            production: format!("{}://{}/", scheme(domain_https), env.domain),
            preview: format!("{}://{}/", scheme(previews_https), preview_host(env, None)),
        }
    }
}

/// Asks what serves the environment now: a load-balanced one's balancer
/// (through `api`, when at hand: [`super::lb_tls`]), otherwise nginx on
/// its first web server (`common/serving`). Anything unknown is `http://`.
pub async fn served_urls(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    api: Option<&crate::digitalocean::Client>,
) -> ServedUrls {
    if env.kind == crate::config::EnvironmentKind::LoadBalanced {
        let serves = match (api, super::lb_tls::balancer_to_secure(env)) {
            (Some(api), Some(lb)) => super::lb_tls::read(api, lb)
                .await
                .is_ok_and(|t| t.serves(&env.domain)),
            _ => false,
        };
        return ServedUrls::new(env, serves, serves);
    }
    let Some(web) = connected.iter().find(|c| c.server.role == DropletRole::Web) else {
        return ServedUrls::new(env, false, false);
    };
    let Ok(op) = execute::on(
        web,
        "reading which URLs are served over HTTPS",
        "common/serving",
        &[("PROJECT", &file.name), ("ENV", &env.name)],
    ) else {
        return ServedUrls::new(env, false, false);
    };
    let reports = execute::run(web, &op, None, &crate::ssh::session::quiet())
        .await
        .map(|o| o.reports)
        .unwrap_or_default();
    let (domain, previews) = crate::reported!(reports, Report::Schemes { domain_https, previews_https } => (*domain_https, *previews_https))
        .unwrap_or((false, false));
    ServedUrls::new(env, domain, previews)
}

/// GETs the health path of the inactive colour (through the preview host)
/// on every web server.
pub async fn health(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    sink: &Sink,
) -> anyhow::Result<Vec<Health>> {
    let host = preview_host(env, None);
    let mut out = vec![];
    for c in connected
        .iter()
        .filter(|c| c.server.role == DropletRole::Web)
    {
        let op = execute::on(
            c,
            "health check of the inactive colour",
            "common/health",
            &[
                ("HOST", &host),
                ("HEALTH_PATH", env.health_path(file)),
                ("PROJECT", &file.name),
                ("ENV", &env.name),
                (
                    "SITE_USER",
                    &super::EnvUsers::of(&file.name, &env.name).site,
                ),
            ],
        )?;
        let outcome = execute::run(c, &op, None, &crate::ssh::session::quiet()).await?;
        let status =
            crate::reported!(outcome.reports, Report::Health { code } => *code).unwrap_or(0);
        let healthy = outcome.exit_code == 0;
        let details = outcome.stdout.trim_end().to_string();
        // A failed check is not a finished step: it shows as a plain line,
        // and the caller's error says what it means.
        sink(
            &c.server.endpoint.name,
            if healthy {
                Stream::Done
            } else {
                Stream::Stderr
            },
            &format!("health of the inactive colour via {host}: HTTP {status}"),
        );
        out.push(Health {
            server: c.server.endpoint.name.clone(),
            host: host.clone(),
            status,
            healthy,
            details,
        });
    }
    Ok(out)
}

/// Reads the live colour of each web server (all must agree).
pub async fn live_colour(root: &str, connected: &[Connected]) -> anyhow::Result<Colour> {
    let mut seen = None;
    for c in connected
        .iter()
        .filter(|c| c.server.role == DropletRole::Web)
    {
        let op = execute::on(
            c,
            "reading the live colour",
            "common/status",
            &[("ROOT", root)],
        )?;
        let out = execute::run_ok(c, &op, &crate::ssh::session::quiet()).await?;
        let live = match crate::reported!(out.reports, Report::Live { target } => target.as_str()) {
            Some("blue") => Colour::Blue,
            Some("green") => Colour::Green,
            other => bail!(
                "{} is not provisioned (live colour {:?})",
                c.server.endpoint.name,
                other
            ),
        };
        if seen.is_some_and(|s| s != live) {
            bail!(
                "the servers disagree on the live colour; run `pond status` and swap the odd one by hand"
            );
        }
        seen = Some(live);
    }
    seen.context("the environment has no web servers")
}

/// Status of every server, in parallel, one round trip each.
pub async fn status(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
) -> Vec<ServerStatus> {
    let root = env_root(&file.name, &env.name);
    let users = super::EnvUsers::of(&file.name, &env.name);
    let (site_user, deploy_user) = (users.site, users.deploy);
    let record = super::provision_record(&file.name, &env.name);
    let units = super::processes::unit_prefix(&file.name, &env.name);
    let mut out = vec![];
    let runs = connected.iter().map(|c| {
        let op = execute::on(
            c,
            "reading status",
            "common/status",
            &[
                ("ROOT", &root),
                ("PROJECT", &file.name),
                ("SITE_USER", &site_user),
                ("RECORD", &record),
                ("UNITS", &units),
                ("DEPLOY_USER", &deploy_user),
            ],
        );
        async move { execute::run_ok(c, &op?, &crate::ssh::session::quiet()).await }
    });
    let results = futures::future::join_all(runs).await;
    for (c, r) in connected.iter().zip(results) {
        let mut s = ServerStatus {
            server: c.server.endpoint.name.clone(),
            reachable: true,
            ..Default::default()
        };
        match r {
            Err(e) => s.error = Some(format!("{e:#}")),
            Ok(o) => {
                parse_status(&o.reports, &mut s);
                // Behind a balancer the servers keep no certificate: HTTPS
                // is the balancer's (`lb_tls`), not a line per server.
                if env.kind == crate::config::EnvironmentKind::LoadBalanced {
                    s.tls = None;
                }
                let expected = super::provision::setup_digest(file, env, c.server.role).ok();
                s.drift = drift(&o.reports, expected.as_deref());
            }
        }
        out.push(s);
    }
    out
}

/// The differences `common/status` reports against the provisioning
/// record, led by a note when the record is missing or was made from
/// other scripts than `expected` (the digest provisioning would record now).
fn drift(reports: &[Report], expected: Option<&str>) -> Option<Vec<String>> {
    let (digest, at) =
        crate::reported!(reports, Report::Provisioned { digest, at } => (digest, at))?;
    let mut found = vec![];
    match digest {
        Some(digest) => {
            if expected.is_some_and(|e| e != digest) {
                found.push(format!(
                    "provisioned{} from other templates or pond.json settings than it would be now",
                    at.as_ref().map(|at| format!(" at {at}")).unwrap_or_default()
                ));
            }
        }
        None => found.push(
            "no record of Pond's provisioning for this environment (set up by an older Pond, or not yet)"
                .to_string(),
        ),
    }
    found.extend(crate::all_reported!(reports, Report::Drift { what } => what.clone()));
    Some(found)
}

fn parse_status(reports: &[Report], s: &mut ServerStatus) {
    s.tls = super::tls::parse_status(reports);
    for report in reports {
        match report {
            Report::Live { target } => {
                s.live = match target.as_str() {
                    "blue" => Some(Colour::Blue),
                    "green" => Some(Colour::Green),
                    _ => None,
                }
            }
            Report::Link { colour, target } => s.links.push((colour.clone(), target.clone())),
            Report::State { json } => match ServerState::parse(json) {
                Ok(state) => s.state = state,
                Err(e) => s.error = Some(format!("{e:#}")),
            },
            Report::LastLog { json } => s.last = serde_json::from_str(json).ok(),
            Report::Service { name, running } => s.services.push((name.clone(), *running)),
            Report::Releases { ids } => {
                s.releases_on_disk = ids.clone();
                s.releases_on_disk.sort();
            }
            Report::AccessOutside { count } => s.access_outside = *count as usize,
            Report::AccessKeys { blobs } => s.access_keys = Some(blobs.clone()),
            Report::Hosted { envs } => {
                s.hosted = envs.clone();
                s.hosted.sort();
                s.hosted.dedup();
            }
            Report::Process {
                name,
                instance,
                state,
                sub_state,
                since,
                restarts,
                release,
            } => s.processes.push(ProcessStatus {
                name: name.clone(),
                instance: *instance,
                state: state.clone(),
                sub_state: sub_state.clone(),
                since: *since,
                restarts: *restarts,
                release: release.clone(),
            }),
            Report::Declared { name, count } => s.declared.push((name.clone(), *count)),
            Report::Schedule {
                running,
                at,
                result,
                code,
                status,
            } => {
                s.schedule = Some(ScheduleStatus {
                    timer_running: *running,
                    last_run: at.clone(),
                    last_ok: at.as_ref().map(|_| result.as_deref() == Some("success")),
                    last_outcome: at.as_ref().map(|_| {
                        format!(
                            "{} {}",
                            code.as_deref().unwrap_or_default(),
                            status.as_deref().unwrap_or_default()
                        )
                    }),
                })
            }
            Report::BackupTimer { running, every } => {
                s.backup_timer_running = Some(*running);
                s.backup_every = every.clone();
            }
            Report::BackupRun(run) => s.backup = Some(super::backups::LastRun::from(run)),
            Report::Disk { free, .. } => s.disk_free = Some(*free),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_served_schemes() {
        let file: ProjectFile =
            serde_json::from_str(include_str!("../../examples/acme-shop/pond.json")).unwrap();
        let env = &file.environments[0];
        let urls = ServedUrls::new(env, true, false);
        assert_eq!(urls.production, format!("https://{}/", env.domain));
        assert_eq!(
            urls.preview,
            format!("http://{}.{}/", env.secret_prefix, env.domain)
        );
    }

    use crate::plan::report::reports_of;

    #[test]
    fn processes_and_the_schedule_are_read_from_their_report_lines() {
        let mut s = ServerStatus::default();
        parse_status(
            &reports_of(
                "report process name queue instance 1 state active sub_state running since 1765000000 restarts 2 release 20261206T030000Z-v2
                 report process name queue instance 2 state failed sub_state failed since 1765000100 restarts 9 release ''
                 report schedule running yes at 2026-12-06T03:01:00Z result exit-code code exited status 1",
            ),
            &mut s,
        );
        assert_eq!(s.processes.len(), 2);
        assert_eq!(
            s.processes[0],
            ProcessStatus {
                name: "queue".into(),
                instance: 1,
                state: "active".into(),
                sub_state: "running".into(),
                since: 1765000000,
                restarts: 2,
                release: Some("20261206T030000Z-v2".into()),
            }
        );
        assert_eq!(s.processes[1].release, None);
        let schedule = s.schedule.unwrap();
        assert!(schedule.timer_running);
        assert_eq!(schedule.last_ok, Some(false));
        assert_eq!(schedule.last_outcome.as_deref(), Some("exited 1"));
        let mut backup = ServerStatus::default();
        parse_status(
            &reports_of(
                "report backup-run at 2026-12-06T03:00:00Z result failed detail 'MariaDB is not running on this server'
                 report backup-timer running yes every daily",
            ),
            &mut backup,
        );
        let last = backup.backup.unwrap();
        assert!(
            !last.ok && !last.running && last.detail == "MariaDB is not running on this server"
        );
        assert_eq!(backup.backup_timer_running, Some(true));
        assert_eq!(backup.backup_every.as_deref(), Some("daily"));
        let mut declared = ServerStatus::default();
        parse_status(
            &reports_of("report declared name queue count 2"),
            &mut declared,
        );
        assert_eq!(declared.declared, [("queue".to_string(), 2)]);
        let mut none = ServerStatus::default();
        parse_status(
            &reports_of("report schedule running no at '' result '' code '' status ''"),
            &mut none,
        );
        let schedule = none.schedule.unwrap();
        assert!(!schedule.timer_running && schedule.last_run.is_none());
        let mut links = ServerStatus::default();
        parse_status(
            &reports_of(
                "report live target green
                 report link colour blue target releases/R1
                 report releases ids 'R2 R1 '
                 report service name nginx running yes
                 report access-keys blobs ''
                 report disk free 12 total 40",
            ),
            &mut links,
        );
        assert_eq!(links.live, Some(Colour::Green));
        assert_eq!(
            links.links,
            [("blue".to_string(), "releases/R1".to_string())]
        );
        assert_eq!(links.releases_on_disk, ["R1", "R2"]);
        assert_eq!(links.services, [("nginx".to_string(), true)]);
        assert_eq!(links.access_keys, Some(vec![]));
        assert_eq!(links.disk_free, Some(12));
    }

    #[test]
    fn drift_names_a_missing_record_other_scripts_and_each_difference() {
        assert_eq!(
            drift(&reports_of("report live target blue"), Some("ab")),
            None
        );
        assert_eq!(
            drift(
                &reports_of("report provisioned digest ab at 2026-12-05T00:00:00Z"),
                Some("ab")
            ),
            Some(vec![])
        );
        let reports = reports_of(
            "report provisioned digest ab at 2026-12-05T00:00:00Z
             report drift what '/etc/nftables.conf was changed since it was provisioned'
             report drift what 'user web_a_b is missing'",
        );
        let found = drift(&reports, Some("cd")).unwrap();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains("at 2026-12-05T00:00:00Z"), "{found:?}");
        assert_eq!(found[2], "user web_a_b is missing");
        let found = drift(
            &reports_of("report provisioned digest '' at ''"),
            Some("cd"),
        )
        .unwrap();
        assert!(found[0].starts_with("no record"), "{found:?}");
    }
}
