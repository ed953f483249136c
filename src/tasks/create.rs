//! The new-server task (what the GUI wizard drives): create the droplet on
//! DigitalOcean (or, with `on`, take one that already serves other
//! environments), wait until it is active, pin its host key, provision it,
//! deploy the project, check its health, then point DNS at it (domain,
//! `www`, preview hosts) and get its certificates (the domain's and the
//! preview hosts' wildcard, [`super::preview_tls::secure_new_environment`]),
//! recording the environment in pond.json as soon as its droplets exist.
//! If the droplet never becomes usable, the droplets this run created are
//! deleted, so a failure leaves no orphans. What a run is asked for, its
//! checks and the review page's lines are in `create_plan`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

pub use super::create_plan::{NewServer, database_choice};
use super::dns::point_dns;
use super::droplets::{connect_booting, create_droplets, delete_created, register_keys};
use super::{CloneSessions, Stop, deploy, operate, provision, transfer};
use crate::config::{
    self, AccountRef, Droplet, DropletRole, Environment, EnvironmentKind, ProjectFile,
};
use crate::digitalocean::Client;
use crate::ssh::{Identity, Sink, Stream};

/// The URLs of a new environment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Urls {
    pub production: String,
    pub preview: String,
    pub blue: String,
    pub green: String,
    /// Why the domain is not on HTTPS yet (None: it is, or HTTPS is off).
    pub https_problem: Option<String>,
    /// TLS ends at a load balancer (what `pond tls --renew` then does).
    pub load_balanced: bool,
}

/// Runs the whole flow; `file` is updated and saved at `path` once the
/// droplet is usable (so a later failure keeps it for a re-run).
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(name = "create::new_server", skip_all, fields(env = %input.env))]
pub async fn new_server(
    client: &Client,
    file: &mut ProjectFile,
    path: &Path,
    project_root: &Path,
    identity: &Identity,
    input: &NewServer,
    stop: &Stop,
    sink: &Sink,
) -> anyhow::Result<Urls> {
    let step = |text: &str| sink(crate::ssh::API, Stream::Step, text);
    if file.environments.iter().any(|e| e.name == input.env) {
        anyhow::bail!("environment {} already exists in pond.json", input.env);
    }
    input.check()?;
    // Validate everything before anything is created.
    let mut candidate = file.clone();
    if !candidate.accounts.iter().any(|a| a.name == input.account) {
        candidate.accounts.push(AccountRef {
            name: input.account.clone(),
        });
    }
    let web_droplets = input.web_droplets.max(1) as usize;
    let names: Vec<String> = input
        .new_droplet_names(&file.name)
        .into_iter()
        .take(web_droplets)
        .collect();
    let lb_name = format!("{}-{}-lb", file.name, input.env);
    candidate.environments.push(Environment {
        name: input.env.clone(),
        account: Some(input.account.clone()),
        kind: if input.is_load_balanced() {
            EnvironmentKind::LoadBalanced
        } else {
            EnvironmentKind::Single
        },
        region: Some(input.region.clone()),
        size: Some(input.size.clone()),
        image: Some(input.image.clone()),
        domain: input.domain.clone(),
        secret_prefix: input.secret_prefix.clone(),
        health_path: None,
        database: input.database.clone(),
        droplets: match &input.on {
            Some(on) => vec![Droplet {
                role: DropletRole::Web,
                ..on.clone()
            }],
            None => names
                .iter()
                .map(|name| Droplet {
                    name: name.clone(),
                    id: None,
                    role: DropletRole::Web,
                    address: None,
                    ssh_user: None,
                    private_address: None,
                    host_key: None,
                    joined: false,
                })
                .collect(),
        }
        .into_iter()
        .chain(input.database_server.clone())
        .collect(),
        load_balancer: input
            .is_load_balanced()
            .then(|| crate::config::LoadBalancer {
                name: lb_name.clone(),
                id: None,
            }),
        https: Default::default(),
    });
    let problems = config::validate(&candidate, Some(project_root));
    if let Some(p) = problems.first() {
        anyhow::bail!("the new environment is not valid: {p}");
    }

    stop.check("anything was created", "Nothing was created.")?;
    step("checking the account token");
    client.account().await?;
    if let Some(on) = &input.on {
        return super::shared_server::put_on_existing(
            client,
            file,
            candidate,
            path,
            project_root,
            identity,
            input,
            on,
            stop,
            sink,
        )
        .await;
    }
    let requests = input.droplet_requests(file, &identity.public_line())?;
    step("registering your SSH key");
    register_keys(client, &input.account, file, identity).await?;
    stop.check("creating droplets", "Nothing was created.")?;
    let created = create_droplets(
        client,
        &input.account,
        &requests,
        input.active_timeout,
        sink,
    )
    .await?;
    let mut lb = None;
    if input.is_load_balanced() {
        let ids: Vec<u64> = created[..names.len()].iter().map(|c| c.id).collect();
        step(&format!(
            "creating load balancer {lb_name} in front of {} droplets",
            ids.len()
        ));
        let request = super::balancer::create(&input.account, &lb_name, &input.region, &ids);
        let made = super::execute::api(client, &request).await.and_then(|v| {
            v["load_balancer"]["id"]
                .as_str()
                .map(str::to_string)
                .context("DigitalOcean returned a load balancer without an id")
        });
        let id = match made {
            Ok(id) => id,
            Err(e) => return Err(delete_created(client, &input.account, &created, e, sink).await),
        };
        step(&format!("waiting for load balancer {id} to become active"));
        let ip = match client
            .wait_load_balancer(&id, Duration::from_secs(300))
            .await
        {
            Ok(ip) => ip,
            Err(e) => {
                // Never usable: take the balancer down with the droplets.
                let request =
                    super::balancer::delete(&input.account, &id, "which never became active");
                step(&request.description);
                let e = match super::execute::api(client, &request).await {
                    Ok(_) => e,
                    Err(d) => e.context(format!("deleting load balancer {id} failed too: {d:#}")),
                };
                return Err(delete_created(client, &input.account, &created, e, sink).await);
            }
        };
        lb = Some((id, ip));
    }
    let address = lb
        .as_ref()
        .map(|(_, ip)| ip.clone())
        .unwrap_or_else(|| created[0].address.clone());

    // Usable: record it (so a failure from here on can be resumed).
    let env_index = candidate.environments.len() - 1;
    let env = &mut candidate.environments[env_index];
    let new_records = env.droplets.iter_mut().filter(|d| d.address.is_none());
    for (d, c) in new_records.zip(&created) {
        d.id = Some(c.id);
        d.address = Some(c.address.clone());
        d.private_address = c.private_address.clone();
    }
    if let (Some(record), Some((id, _))) = (env.load_balancer.as_mut(), &lb) {
        record.id = Some(id.clone());
    }
    *file = candidate;
    config::save(path, file)?;

    finish(
        client,
        file,
        path,
        project_root,
        identity,
        env_index,
        &address,
        &input.tag,
        &input.transfer,
        &input.acme,
        stop,
        sink,
    )
    .await
}

/// Continues a new-server run that stopped after its droplets were
/// created and recorded in pond.json (a closed laptop, a lost network): the
/// droplets are checked on DigitalOcean, then connecting, provisioning, DNS,
/// the first deploy and the health check run again. Every one of those
/// steps is idempotent, so resuming twice is harmless.
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(name = "create::resume", skip_all, fields(env = %env_name))]
pub async fn resume(
    client: &Client,
    file: &mut ProjectFile,
    path: &Path,
    project_root: &Path,
    identity: &Identity,
    env_name: &str,
    tag: &str,
    transfer: &transfer::Transfer,
    acme: &super::tls::Acme,
    stop: &Stop,
    sink: &Sink,
) -> anyhow::Result<Urls> {
    let step = |text: &str| sink(crate::ssh::API, Stream::Step, text);
    let (env_index, env) = super::find_env(file, env_name)?;
    let mut address = None;
    for d in &env.droplets {
        if d.id.is_none() && d.role == DropletRole::Database && d.address.is_some() {
            continue; // an existing database server (`--db host:ADDR`)
        }
        let Some(id) = d.id else {
            anyhow::bail!(
                "droplet {} of {env_name} was not created by Pond; nothing to resume (use pond provision / deploy)",
                d.name
            );
        };
        step(&format!("checking droplet {} ({id})", d.name));
        let found = client.droplet(id).await.with_context(|| {
            format!("droplet {} ({id}) is gone; remove {env_name} (pond unbind {env_name}) and create it again", d.name)
        })?;
        if found["status"] != "active" {
            anyhow::bail!(
                "droplet {} ({id}) is {}, not active",
                d.name,
                found["status"]
            );
        }
        let public =
            Client::public_ipv4(&found).context("the droplet has no public IPv4 address")?;
        if d.role == DropletRole::Web {
            address.get_or_insert(public);
        }
    }
    if let Some(lb) = env.load_balancer.as_ref().and_then(|lb| lb.id.clone()) {
        address = Some(
            client
                .wait_load_balancer(&lb, Duration::from_secs(300))
                .await?,
        );
    }
    let address = address.with_context(|| format!("{env_name} has no droplets"))?;
    finish(
        client,
        file,
        path,
        project_root,
        identity,
        env_index,
        &address,
        tag,
        transfer,
        acme,
        stop,
        sink,
    )
    .await
}

/// Everything after the droplets exist: connect (pinning host keys),
/// provision, point DNS at `address`, load data, first deploy, health.
#[allow(clippy::too_many_arguments)]
pub(super) async fn finish(
    client: &Client,
    file: &mut ProjectFile,
    path: &Path,
    project_root: &Path,
    identity: &Identity,
    env_index: usize,
    address: &str,
    tag: &str,
    transfer: &transfer::Transfer,
    acme: &super::tls::Acme,
    stop: &Stop,
    sink: &Sink,
) -> anyhow::Result<Urls> {
    let step = |text: &str| sink(crate::ssh::API, Stream::Step, text);
    let env_name = file.environments[env_index].name.clone();
    let recorded = format!(
        "The droplets exist and are recorded in pond.json: Resume (pond create {env_name} --resume) finishes the job, pond destroy {env_name} removes them."
    );
    stop.check("connecting to the droplets", &recorded)?;
    let (domain, prefix) = {
        let e = &file.environments[env_index];
        (e.domain.clone(), e.secret_prefix.clone())
    };
    let connected = connect_booting(file, path, env_index, identity, sink).await?;
    let env = file.environments[env_index].clone();
    stop.check("provisioning", &recorded)?;
    provision::provision(file, &env, &connected, project_root, sink).await?;

    stop.check("loading data and the first deploy", &recorded)?;
    // Data goes in under the deploy's locks, and only while nothing is
    // deployed yet (a resumed run that already deployed refuses it).
    let options = deploy::DeployOptions {
        scan: None,
        tag: tag.to_string(),
        dry_run: false,
        break_lock: false,
        data: (!transfer.is_empty()).then(|| deploy::DataLoad {
            transfer: transfer.clone(),
            identity: identity.clone(),
            overwrite_live: false,
        }),
    };
    stop.check("the first deploy", &recorded)?;
    let deployed = deploy::deploy(
        file,
        project_root,
        &env_name,
        connected.clone_sessions(),
        &options,
        sink,
    )
    .await?;
    if deployed.iter().any(|d| !d.first) {
        // A resumed run whose first deploy had landed deployed to the
        // inactive colour: make it live (health-checked) like a first one.
        // (The swap health-checks it before it goes live.)
        super::swap::swap(file, &env, &connected, false, sink).await?;
    }
    let checked = if deployed.iter().any(|d| !d.first) {
        vec![]
    } else {
        operate::health(file, &env, &connected, sink).await?
    };
    for h in checked {
        if !h.healthy {
            anyhow::bail!(
                "the first deploy is not healthy on {} (HTTP {}), so DNS was not pointed at it ({domain} still answers as before). Fix it, deploy again, then pond create {env_name} --resume points DNS:\n{}",
                h.server,
                h.status,
                h.details
            );
        }
    }
    // DNS last: the domain only ever points at a healthy first deploy.
    stop.check("pointing DNS", &recorded)?;
    step(&format!(
        "pointing {domain} and the preview hosts at {address}"
    ));
    let account = env.account.clone().unwrap_or_default();
    point_dns(client, &account, &domain, &prefix, address).await?;
    // HTTPS once DNS points here (HTTP-01 needs it).
    let secured =
        super::preview_tls::secure_new_environment(client, file, &env, &connected, acme, sink)
            .await;
    let (https, previews_https, https_problem) =
        (secured.domain, secured.previews, secured.problem);
    let scheme = if https { "https" } else { "http" };
    let preview_scheme = if previews_https { "https" } else { "http" };
    Ok(Urls {
        production: format!("{scheme}://{domain}/"),
        preview: format!("{preview_scheme}://{}/", operate::preview_host(&env, None)),
        blue: format!(
            "{preview_scheme}://{}/",
            operate::preview_host(&env, Some(crate::config::Colour::Blue))
        ),
        green: format!(
            "{preview_scheme}://{}/",
            operate::preview_host(&env, Some(crate::config::Colour::Green))
        ),
        https_problem,
        load_balanced: env.kind == crate::config::EnvironmentKind::LoadBalanced,
    })
}
