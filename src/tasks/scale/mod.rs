//! Scale a load-balanced environment to N web droplets. Out: new droplets
//! get the environment's tags and keys, are provisioned and granted
//! database access, are brought to the live build (the live release is
//! streamed from a serving droplet through this computer, without its
//! rendered config files, which each droplet renders with its own secrets),
//! are health-checked, and only then join the load balancer. In: droplets
//! leave the balancer before they are deleted, and their database accounts
//! go. The DigitalOcean requests known before the run are planned
//! ([`plan`]) and sent as planned; a shown plan pond.json no longer gives
//! is refused. A run that stopped midway is finished by running it again:
//! web droplets that exist but are not behind the balancer are brought up
//! and added; droplets already out of the balancer or already deleted
//! count as done. (Droplets created but not yet recorded when a run was
//! killed are not adopted; two scale runs at once are not locked out.)

use std::path::Path;

use anyhow::{Context, bail};
use tokio::io::AsyncReadExt;

use super::droplets::{connect_booting, create_droplets, register_keys};
use super::state::{ColourState, ServerState, log_line};
use super::{CloneSessions, Connected, env_root, execute, find_env, manifest, operate, provision};
use crate::config::{self, Colour, Droplet, DropletRole, ProjectFile};
use crate::digitalocean::Client;
use crate::plan::report::Report;
use crate::ssh::{Identity, Sink, Stream};

mod plan;

pub use plan::{ScalePlan, plan};

/// How long a new droplet may take to become active.
const ACTIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Carries out `plan`; pond.json is saved after every change on
/// DigitalOcean, so a failure leaves it true.
pub async fn execute(
    client: &Client,
    file: &mut ProjectFile,
    path: &Path,
    project_root: &Path,
    identity: &Identity,
    plan: &ScalePlan,
    sink: &Sink,
) -> anyhow::Result<()> {
    let step = |text: &str| sink(crate::ssh::API, Stream::Step, text);
    // The plan may have been shown a while ago (the app keeps it for ten
    // minutes): pond.json's droplets, balancer and team keys must still
    // give the very requests it showed.
    let now = plan::plan(file, &plan.env, plan.target, None, &identity.public_line())?;
    if now.requests.operations != plan.requests.operations
        || now.add != plan.add
        || now.remove != plan.remove
        || now.balancer_id != plan.balancer_id
    {
        bail!(
            "pond.json changed since the plan for {} was shown (its droplets, load balancer or team keys); nothing was changed. Show the plan again",
            plan.env
        );
    }
    let (env_index, _) = find_env(file, &plan.env)?;

    if !plan.remove.is_empty() {
        // The balancer first, then each droplet, as planned.
        let (out_of_balancer, deletes) = plan
            .requests
            .operations
            .split_first()
            .context("the scale plan lists no requests for the droplets it removes")?;
        // A run that stopped midway is run again: the balancer no longer
        // holding them, or a droplet already deleted, is done already.
        let behind = client.load_balancer_droplets(&plan.balancer_id).await?;
        if plan.remove.iter().any(|(_, id, _)| behind.contains(id)) {
            step(&out_of_balancer.description);
            execute::api(client, out_of_balancer).await?;
        }
        for ((_, id, _), op) in plan.remove.iter().zip(deletes) {
            step(&op.description);
            match execute::api(client, op).await {
                Err(e) if !crate::digitalocean::is_not_found(&e) => return Err(e),
                _ => {}
            }
            file.environments[env_index]
                .droplets
                .retain(|d| d.id != Some(*id));
            config::save(path, file)?;
        }
        let env = file.environments[env_index].clone();
        let connected = connect_booting(file, path, env_index, identity, sink).await?;
        provision::database_phase(file, &env, &connected, &[], sink).await?;
    }

    if !plan.add.is_empty() {
        step("registering your SSH key");
        register_keys(client, &plan.account, file, identity).await?;
        let created = create_droplets(
            client,
            &plan.account,
            &plan.requests.operations,
            ACTIVE_TIMEOUT,
            sink,
        )
        .await?;
        let droplets = &mut file.environments[env_index].droplets;
        let at = droplets
            .iter()
            .rposition(|d| d.role == DropletRole::Web)
            .map_or(0, |i| i + 1);
        for (k, (name, c)) in plan.add.iter().zip(&created).enumerate() {
            droplets.insert(
                at + k,
                Droplet {
                    name: name.clone(),
                    id: Some(c.id),
                    role: DropletRole::Web,
                    address: Some(c.address.clone()),
                    ssh_user: None,
                    private_address: c.private_address.clone(),
                    host_key: None,
                    joined: false,
                },
            );
        }
        config::save(path, file)?;
    }

    // Every web droplet Pond created that is not behind the balancer joins.
    let behind = client.load_balancer_droplets(&plan.balancer_id).await?;
    let joining: Vec<(String, u64)> = file.environments[env_index]
        .droplets
        .iter()
        .filter(|d| d.role == DropletRole::Web)
        .filter_map(|d| d.id.map(|id| (d.name.clone(), id)))
        .filter(|(_, id)| !behind.contains(id))
        .collect();
    if joining.is_empty() {
        step(&format!(
            "all web droplets of {} are behind the load balancer",
            plan.env
        ));
        return Ok(());
    }
    let names: Vec<String> = joining.iter().map(|(n, _)| n.clone()).collect();
    let connected = connect_booting(file, path, env_index, identity, sink).await?;
    let env = file.environments[env_index].clone();
    provision::provision_servers(file, &env, &connected, &names, project_root, sink).await?;

    let source = connected
        .iter()
        .find(|c| c.server.role == DropletRole::Web && !names.contains(&c.server.endpoint.name))
        .context("no web droplet serves the live build to copy it from")?;
    // The app secrets the live build's config files need.
    let newcomers: Vec<&Connected> = connected
        .iter()
        .filter(|c| names.contains(&c.server.endpoint.name))
        .collect();
    super::secrets::copy_all(file, &env, source, &newcomers, sink).await?;
    let status = operate::status(file, &env, std::slice::from_ref(source))
        .await
        .remove(0);
    if let Some(e) = status.error {
        bail!("reading the live build on {}: {e}", status.server);
    }
    let live = status
        .state
        .live
        .with_context(|| format!("{} records no live colour", status.server))?;
    let release =
        status.state.colours.get(&live).cloned().with_context(|| {
            format!("{} records no release for {}", status.server, live.as_str())
        })?;
    let new_ones: Vec<Connected> = connected
        .clone_sessions()
        .into_iter()
        .filter(|c| names.contains(&c.server.endpoint.name))
        .collect();
    let root = env_root(&file.name, &env.name);
    let joiners: Vec<ReleaseCopy> = new_ones
        .iter()
        .map(|target| ReleaseCopy {
            file,
            env: &env,
            project_root,
            root: &root,
            source,
            target,
        })
        .collect();
    let copies = joiners.iter().map(|c| c.live(live, &release, sink));
    for r in futures::future::join_all(copies).await {
        r?;
    }
    for h in operate::health(file, &env, &new_ones, sink).await? {
        if !h.healthy {
            bail!(
                "{} is not healthy (HTTP {}), so it was not put behind the load balancer; it stays in pond.json, and pond scale {} {} tries again:\n{}",
                h.server,
                h.status,
                plan.env,
                plan.target,
                h.details
            );
        }
    }
    // The inactive colour too, once the live build is known healthy: the
    // joining droplets then have the others' colour → release map (and
    // rollback target), so the next swap or rollback is in step.
    let copies = joiners.iter().map(|c| c.inactive(&status.state, sink));
    for r in futures::future::join_all(copies).await {
        r?;
    }
    // Their processes and schedule, as the live release they now serve
    // declares.
    let joined: Vec<&Connected> = new_ones.iter().collect();
    super::processes::apply(file, &env, &joined, sink).await?;
    let ids: Vec<u64> = joining.iter().map(|(_, id)| *id).collect();
    let joining_names: Vec<&str> = names.iter().map(String::as_str).collect();
    let join = super::balancer::droplets(
        &plan.account,
        &plan.balancer_id,
        &plan.balancer_name,
        &joining_names,
        &ids,
        true,
    );
    step(&join.description);
    execute::api(client, &join).await?;
    Ok(())
}

/// One release streamed from a serving droplet into a joining one.
struct ReleaseCopy<'a> {
    file: &'a ProjectFile,
    env: &'a crate::config::Environment,
    project_root: &'a Path,
    root: &'a str,
    source: &'a Connected,
    target: &'a Connected,
}

impl ReleaseCopy<'_> {
    fn users(&self) -> crate::plan::layout::EnvUsers {
        crate::plan::layout::EnvUsers::of(&self.file.name, &self.env.name)
    }

    /// Runs `release-import` on the target for `release`: room made for
    /// it. Returns the target's live colour and whether a colour already
    /// runs the release (a re-run).
    async fn make_room(&self, release: &str, doing: &str) -> anyhow::Result<(String, bool)> {
        let prepare = execute::on(
            self.target,
            doing,
            "common/release-import",
            &[("ROOT", self.root), ("RELEASE", release)],
        )?;
        let prepared =
            execute::run_ok(self.target, &prepare, &crate::ssh::session::quiet()).await?;
        crate::reported!(prepared.reports, Report::ImportReady { live, serving } => (live.clone(), *serving))
            .with_context(|| format!("{}: common/release-import reported nothing", self.target.server.endpoint.name))
    }

    /// Streams the live release from `source` into `target` (through this
    /// computer, never touching `source`'s files), with `target`'s own config
    /// files, on both colours, `live` live.
    async fn live(&self, live: Colour, release: &ColourState, sink: &Sink) -> anyhow::Result<()> {
        let (root, source, target) = (self.root, self.source, self.target);
        let name = &target.server.endpoint.name;
        let (current, serving) = self
            .make_room(&release.release, "making room for the live release")
            .await?;
        let by = super::actor();
        let record = release.record();
        let joined = ServerState::default().after_deploy(Colour::Blue, true, record);
        if !serving {
            let log = log_line(
                "join",
                &by,
                serde_json::json!({"release": release.release, "from": source.server.endpoint.name}),
            );
            self.release(
                live,
                &release.release,
                Colour::Blue,
                true,
                &joined,
                &log,
                sink,
            )
            .await?;
        }
        if current != live.as_str() {
            // Both colours run the release; make the same colour live as on
            // the others, so the next deploy and swap stay in step.
            let swap = execute::on(
                target,
                format!("making {} live", live.as_str()),
                "common/swap",
                &[
                    ("ROOT", root),
                    ("EXPECT_LIVE", &current),
                    ("EXPECT_LIVE_RELEASE", &release.release),
                    ("EXPECT_RELEASE", &release.release),
                    ("STATE", &joined.after_swap(live).to_json()),
                    (
                        "LOG_LINE",
                        &log_line("join-swap", &by, serde_json::json!({"live": live})),
                    ),
                    ("HOOKS", ""),
                    ("SITE_USER", &self.users().site),
                    ("DEPLOY_USER", &self.users().deploy),
                ],
            )?;
            execute::run_ok(target, &swap, sink).await?;
        }
        sink(
            name,
            Stream::Done,
            &format!(
                "runs release {} ({}) on both colours, {} live",
                release.release,
                release.tag,
                live.as_str()
            ),
        );
        Ok(())
    }

    /// Streams the release the source's inactive colour holds into the
    /// joining droplet's inactive colour, and records the source's rollback
    /// target, unless the droplet has them already (a re-run) or the source's
    /// colours hold one release.
    async fn inactive(&self, source_state: &ServerState, sink: &Sink) -> anyhow::Result<()> {
        let (source, target) = (self.source, self.target);
        let Some(live) = source_state.live else {
            return Ok(());
        };
        let inactive = live.other();
        let (Some(live_release), Some(release)) = (
            source_state.colours.get(&live),
            source_state.colours.get(&inactive),
        ) else {
            return Ok(());
        };
        if release.release == live_release.release {
            return Ok(());
        }
        let (_, serving) = self
            .make_room(&release.release, "making room for the inactive release")
            .await?;
        if serving {
            return Ok(());
        }
        let record = release.record();
        let live_record = live_release.record();
        let mut state = ServerState::default()
            .after_deploy(live, true, live_record)
            .after_deploy(inactive, false, record);
        state.live = Some(live);
        state.previous = source_state.previous.clone();
        let log = log_line(
            "join",
            &super::actor(),
            serde_json::json!({"release": release.release, "colour": inactive, "from": source.server.endpoint.name}),
        );
        self.release(
            inactive,
            &release.release,
            inactive,
            false,
            &state,
            &log,
            sink,
        )
        .await?;
        sink(
            &target.server.endpoint.name,
            Stream::Done,
            &format!(
                "{} holds release {} ({}) as on {}",
                inactive.as_str(),
                release.release,
                release.tag,
                source.server.endpoint.name
            ),
        );
        Ok(())
    }

    /// Streams the release `from` points at on the source (through this
    /// computer, never touching the source's files) into the target's
    /// `into` colour (both on a `first` copy), with the target's own config
    /// files, writing `state`.
    #[allow(clippy::too_many_arguments)]
    async fn release(
        &self,
        from: Colour,
        release: &str,
        into: Colour,
        first: bool,
        state: &ServerState,
        log: &str,
        sink: &Sink,
    ) -> anyhow::Result<()> {
        let name = &self.target.server.endpoint.name;
        sink(
            name,
            Stream::Step,
            &format!(
                "copying release {release} from {}",
                self.source.server.endpoint.name
            ),
        );
        let generated = super::configs::render_all(self.file, self.env, self.project_root)?;
        let targets: Vec<String> = generated.iter().map(|(t, _)| t.clone()).collect();
        let mut configs = vec![];
        manifest::write_upload(
            &mut configs,
            self.project_root,
            &[],
            &manifest::Manifest::new(),
            &generated,
        )?;
        let export = execute::on(
            self.source,
            format!("reading release {release}"),
            "common/release-export",
            &[
                ("ROOT", self.root),
                ("RELEASE", release),
                ("COLOUR", from.as_str()),
                ("EXCLUDE", &targets.join("\n")),
                ("DEPLOY_USER", &self.users().deploy),
                ("SHARED_PATHS", &self.file.shared_paths.join("\n")),
            ],
        )?;
        let apply = execute::on(
            self.target,
            format!("installing release {release}"),
            "common/deploy-apply",
            &[
                ("ROOT", self.root),
                ("RELEASE", release),
                ("BASE", "-"),
                ("TARGET", into.as_str()),
                ("FIRST", if first { "yes" } else { "no" }),
                ("SHARED_PATHS", &self.file.shared_paths.join("\n")),
                ("CONFIG_FILES", &targets.join("\n")),
                (
                    "HOOKS",
                    &crate::config::hook_lines(&self.file.hooks.post_deploy),
                ),
                ("STATE", &state.to_json()),
                ("LOG_LINE", log),
                ("KEEP_BUILDS", &self.file.keep_builds.to_string()),
                ("STREAMED", "yes"),
                ("SITE_USER", &self.users().site),
                ("DEPLOY_USER", &self.users().deploy),
            ],
        )?;
        let quiet = crate::ssh::session::quiet();
        let (from_source, to_target) = tokio::io::duplex(1 << 20);
        let input = to_target.chain(std::io::Cursor::new(configs));
        let (exported, applied) = tokio::join!(
            execute::run_piped(self.source, &export, Box::new(from_source), &quiet),
            execute::run(self.target, &apply, Some(Box::new(input)), sink)
        );
        let exported = exported?;
        if exported.exit_code != 0 {
            bail!(
                "reading release {release} on {} failed: {}",
                self.source.server.endpoint.name,
                crate::ssh::session::last_lines(&exported.stderr, 6)
            );
        }
        let applied = applied?;
        if applied.exit_code != 0 {
            bail!(
                "installing release {release} on {name} failed (exit {}): {}",
                applied.exit_code,
                crate::ssh::session::last_lines(&applied.stderr, 8)
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_plan_pond_json_no_longer_gives_is_refused_before_any_request() {
        let dir = tempfile::tempdir().unwrap();
        let (identity, _) = crate::ssh::key::load_or_generate(&dir.path().join("id")).unwrap();
        let mut file = plan::tests::balanced(&[("shop-live-1", 11)]);
        let shown = plan(&file, "live", 2, None, &identity.public_line()).unwrap();
        // A teammate's key is added after the plan was shown: the new
        // droplet's request would carry it, so the shown plan is stale.
        file.team_keys.push(crate::config::TeamKey {
            name: "sam".into(),
            public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICAfg8uAIpxktHV+Pd4M13IDlJZAJlPd3YXks5NJf6uD sam".into(),
        });
        // Nothing listens there: a request sent would fail differently.
        let client = Client::new(
            "http://127.0.0.1:9/v2",
            crate::digitalocean::Token::new("t"),
        )
        .unwrap();
        let err = execute(
            &client,
            &mut file,
            &dir.path().join("pond.json"),
            dir.path(),
            &identity,
            &shown,
            &crate::ssh::session::quiet(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("pond.json changed since the plan for live"),
            "{err}"
        );
        assert!(!dir.path().join("pond.json").exists(), "nothing saved");
    }
}
