//! Operating a deployed environment: health check of the inactive colour,
//! swap (atomic rename of `current`), rollback (swap back), status of every
//! server in one round trip each, and logs.

use anyhow::{Context, bail};

use super::state::{ServerState, log_line};
use super::{Connected, actor, env_root, render};
use crate::config::{Colour, DropletRole, Environment, ProjectFile};
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
}

/// The preview host names of an environment.
pub fn preview_host(env: &Environment, colour: Option<Colour>) -> String {
    match colour {
        None => format!("{}.{}", env.secret_prefix, env.domain),
        Some(c) => format!("{}-{}.{}", env.secret_prefix, c.as_str(), env.domain),
    }
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
        let script = render(
            "common/health",
            &[
                ("HOST", &host),
                ("HEALTH_PATH", env.health_path(file)),
                ("PROJECT", &file.name),
                ("ENV", &env.name),
            ],
        )?;
        let outcome = c
            .session
            .run(&script, None, &crate::ssh::session::quiet())
            .await?;
        let status = outcome
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("STATUS "))
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let healthy = outcome.exit_code == 0;
        let details = outcome
            .stdout
            .lines()
            .skip_while(|l| l.starts_with("STATUS "))
            .collect::<Vec<_>>()
            .join("\n");
        sink(
            &c.server.endpoint.name,
            Stream::Step,
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
        let script = render("common/status", &[("ROOT", root)])?;
        let out = c
            .session
            .run_ok(
                "reading the live colour",
                &script,
                &crate::ssh::session::quiet(),
            )
            .await?;
        let live = match out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("LIVE "))
            .map(str::trim)
        {
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

/// Reads a server's `metadata/state.json` (empty state if none yet).
async fn read_state(root: &str, c: &Connected) -> anyhow::Result<ServerState> {
    let status = render("common/status", &[("ROOT", root)])?;
    let out = c
        .session
        .run_ok("reading state", &status, &crate::ssh::session::quiet())
        .await?;
    Ok(ServerState::parse(
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix("STATE "))
            .unwrap_or("{}"),
    ))
}

/// Makes the inactive colour live on every web server. Unless `force`,
/// refuses when the inactive colour is not healthy. On a load-balanced
/// environment, if any swap fails the others are swapped back.
pub async fn swap(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    force: bool,
    op: &str,
    sink: &Sink,
) -> anyhow::Result<Colour> {
    let root = env_root(&file.name, &env.name);
    let live = live_colour(&root, connected).await?;
    let next = live.other();
    if !force {
        for h in health(file, env, connected, sink).await? {
            if !h.healthy {
                bail!(
                    "{} is not healthy on {} (HTTP {} from {}{}); not swapping. Details:\n{}\nFix it and deploy again, or swap anyway with --force",
                    next.as_str(),
                    h.server,
                    h.status,
                    h.host,
                    env.health_path(file),
                    h.details
                );
            }
        }
    }
    let by = actor();
    let hooks = file.hooks.post_swap.join("\n");
    let mut swapped: Vec<&Connected> = vec![];
    for c in connected
        .iter()
        .filter(|c| c.server.role == DropletRole::Web)
    {
        let result = swap_one(&root, c, live, next, &by, op, force, &hooks, sink).await;
        match result {
            Ok(()) => swapped.push(c),
            Err(e) => {
                for done in swapped {
                    let _ =
                        swap_one(&root, done, next, live, &by, "swap-back", true, "", sink).await;
                }
                return Err(e);
            }
        }
    }
    Ok(next)
}

#[allow(clippy::too_many_arguments)]
async fn swap_one(
    root: &str,
    c: &Connected,
    live: Colour,
    next: Colour,
    by: &str,
    op: &str,
    forced: bool,
    hooks: &str,
    sink: &Sink,
) -> anyhow::Result<()> {
    let state = read_state(root, c).await?;
    let next_state = state.after_swap(next);
    let release = state
        .colours
        .get(&next)
        .map(|c| c.release.clone())
        .unwrap_or_default();
    let log = log_line(
        op,
        by,
        serde_json::json!({"from": live, "to": next, "release": release, "forced": forced}),
    );
    let script = render(
        "common/swap",
        &[
            ("ROOT", root),
            ("EXPECT_LIVE", live.as_str()),
            ("STATE", &next_state.to_json()),
            ("LOG_LINE", &log),
            ("HOOKS", hooks),
        ],
    )?;
    let outcome = c.session.run(&script, None, sink).await?;
    if outcome.exit_code != 0 {
        bail!(
            "swapping {} on {} failed: {}",
            next.as_str(),
            c.server.endpoint.name,
            crate::ssh::session::last_lines(&format!("{}\n{}", outcome.stdout, outcome.stderr), 6)
        );
    }
    Ok(())
}

/// Points the inactive colour of every web server at an older release
/// (kept on the servers), ready to be swapped in.
pub async fn point_inactive(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    release: &str,
    sink: &Sink,
) -> anyhow::Result<Colour> {
    let root = env_root(&file.name, &env.name);
    let live = live_colour(&root, connected).await?;
    let inactive = live.other();
    let by = actor();
    for c in connected
        .iter()
        .filter(|c| c.server.role == DropletRole::Web)
    {
        let state = read_state(&root, c).await?;
        let record = state
            .releases
            .iter()
            .rev()
            .find(|r| r.id == release)
            .cloned();
        let mut next = state.clone();
        next.colours.insert(
            inactive,
            super::state::ColourState {
                release: release.to_string(),
                tag: record.as_ref().map(|r| r.tag.clone()).unwrap_or_default(),
                at: record.as_ref().map(|r| r.at.clone()).unwrap_or_default(),
                by: record.as_ref().map(|r| r.by.clone()).unwrap_or_default(),
            },
        );
        let log = log_line(
            "point",
            &by,
            serde_json::json!({"colour": inactive, "release": release}),
        );
        let script = render(
            "common/point",
            &[
                ("ROOT", &root),
                ("COLOUR", inactive.as_str()),
                ("RELEASE", release),
                ("STATE", &next.to_json()),
                ("LOG_LINE", &log),
            ],
        )?;
        let outcome = c.session.run(&script, None, sink).await?;
        if outcome.exit_code != 0 {
            bail!(
                "pointing {} at {release} on {} failed: {}",
                inactive.as_str(),
                c.server.endpoint.name,
                crate::ssh::session::last_lines(
                    &format!("{}\n{}", outcome.stdout, outcome.stderr),
                    4
                )
            );
        }
    }
    Ok(inactive)
}

/// Status of every server, in parallel, one round trip each.
pub async fn status(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
) -> Vec<ServerStatus> {
    let root = env_root(&file.name, &env.name);
    let mut out = vec![];
    let runs = connected.iter().map(|c| {
        let script = render("common/status", &[("ROOT", &root)]);
        async move {
            let script = script?;
            c.session
                .run_ok("reading status", &script, &crate::ssh::session::quiet())
                .await
        }
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
            Ok(o) => parse_status(&o.stdout, &mut s),
        }
        out.push(s);
    }
    out
}

fn parse_status(text: &str, s: &mut ServerStatus) {
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("LIVE ") {
            s.live = match v.trim() {
                "blue" => Some(Colour::Blue),
                "green" => Some(Colour::Green),
                _ => None,
            };
        } else if let Some(v) = line.strip_prefix("LINK ") {
            if let Some((c, t)) = v.split_once(' ') {
                s.links.push((c.to_string(), t.to_string()));
            }
        } else if let Some(v) = line.strip_prefix("STATE ") {
            s.state = ServerState::parse(v);
        } else if let Some(v) = line.strip_prefix("LAST ") {
            s.last = serde_json::from_str(v).ok();
        } else if let Some(v) = line.strip_prefix("SERVICE ") {
            if let Some((name, state)) = v.split_once(' ') {
                s.services.push((name.to_string(), state == "running"));
            }
        } else if let Some(v) = line.strip_prefix("RELEASES ") {
            s.releases_on_disk = v.split_whitespace().map(str::to_string).collect();
            s.releases_on_disk.sort();
        } else if let Some(v) = line.strip_prefix("DISK ") {
            s.disk_free = v.split_whitespace().next().and_then(|n| n.parse().ok());
        }
    }
}
