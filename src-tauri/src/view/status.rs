//! The status panel's shapes: an environment as its servers (and a
//! load-balanced one's balancer) report it.

use serde::Serialize;
use ts_rs::TS;

use pond::tasks::operate;

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
        let now = pond::tasks::state::unix_now();
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
