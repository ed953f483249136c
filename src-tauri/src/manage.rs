//! Changing which servers an environment has, from its panel: scale a
//! load-balanced environment, unbind it (optionally removing Pond's files
//! from its servers), or destroy it. Each shows its plan first
//! ([`plan_change`]); [`change`] then carries out exactly the plan shown
//! (kept here between the two calls) once the environment's name has been
//! typed back — the engine checks the name too. The new-server wizard's
//! list of droplets the account runs, and the environment's app secrets
//! (names and times listed; a typed value goes to the servers and is
//! never sent back), and one-off commands (`pond exec`), are here as well.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::{anyhow, bail};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use ts_rs::TS;

use crate::commands::{Res, channel_sink, connect, engine, open, open_env};
use crate::view::Progress;
use crate::wizard::{SessionTokens, client};
use pond::project;
use pond::tasks::{self, destroy, scale, shared_server};

/// What to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// Forget the servers in pond.json; nothing on them changes.
    Unbind,
    /// Remove Pond's files for the environment from its servers, then forget them.
    Purge,
    /// Delete the droplets (keeping one other environments use), DNS records and balancer.
    Destroy,
    /// Set the number of web droplets of a load-balanced environment.
    Scale,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct ChangeRequest {
    pub dir: String,
    pub env: String,
    pub action: ChangeAction,
    /// Web droplets wanted (scale only).
    pub droplets: u32,
    /// The environment's name as the user typed it (ignored by `plan_change`).
    pub confirm: String,
}

/// What a change will do, one line per action.
#[derive(Debug, Serialize, TS)]
pub struct ChangePlan {
    pub lines: Vec<String>,
}

/// A droplet of the account, for "put it on a server this account runs".
#[derive(Debug, Serialize, TS)]
pub struct DropletChoice {
    pub name: String,
    pub address: String,
    pub region: String,
    /// `project/env` of the Pond environments its tags name.
    pub serves: Vec<String>,
}

enum Planned {
    Unbind(bool),
    Destroy(destroy::DestroyPlan),
    Scale(scale::ScalePlan),
}

/// How long a shown plan may be carried out: what exists may change.
const PLAN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);

/// A plan as shown: what it does, with the environment's account then.
struct Shown {
    action: ChangeAction,
    planned: Planned,
    account: Option<String>,
    at: std::time::Instant,
}

/// The plan last shown per (project dir, environment).
#[derive(Default)]
pub struct Plans(Mutex<HashMap<(String, String), Shown>>);

impl Plans {
    fn put(&self, req: &ChangeRequest, planned: Planned, account: Option<String>) {
        if let Ok(mut map) = self.0.lock() {
            let shown = Shown {
                action: req.action,
                planned,
                account,
                at: std::time::Instant::now(),
            };
            map.insert((req.dir.clone(), req.env.clone()), shown);
        }
    }

    /// The plan shown for this request, once; refused when none was shown
    /// for this action, or it is older than [`PLAN_LIFETIME`].
    fn take(&self, req: &ChangeRequest) -> anyhow::Result<(Planned, Option<String>)> {
        let mut map = self
            .0
            .lock()
            .map_err(|_| anyhow!("the plans are unavailable"))?;
        match map.remove(&(req.dir.clone(), req.env.clone())) {
            Some(Shown {
                planned: Planned::Scale(plan),
                action,
                ..
            }) if action == req.action && plan.target != req.droplets => bail!(
                "the plan shown was for {} web droplets, not {}; show it again: nothing was changed",
                plan.target,
                req.droplets
            ),
            Some(s) if s.action == req.action && s.at.elapsed() < PLAN_LIFETIME => {
                Ok((s.planned, s.account))
            }
            Some(s) if s.action == req.action => {
                bail!("the plan was shown over 10 minutes ago; show it again: nothing was changed")
            }
            _ => bail!("show the plan first: nothing was changed"),
        }
    }
}

#[tauri::command]
pub async fn plan_change(
    req: ChangeRequest,
    session: tauri::State<'_, SessionTokens>,
    plans: tauri::State<'_, Plans>,
) -> Res<ChangePlan> {
    let account = open(&req.dir)?
        .file
        .environments
        .iter()
        .find(|e| e.name == req.env)
        .and_then(|e| e.account.clone());
    let client = match (req.action, &account) {
        (ChangeAction::Destroy | ChangeAction::Scale, Some(a)) => {
            Some(client(a.clone(), &session).await?)
        }
        _ => None,
    };
    let r = req.clone();
    let (lines, planned) = engine(move || async move {
        let mut p = open(&r.dir)?;
        let i = p.env_index(&r.env)?;
        let env = p.file.environments[i].clone();
        Ok(match r.action {
            ChangeAction::Unbind | ChangeAction::Purge => {
                let purge = r.action == ChangeAction::Purge;
                (
                    shared_server::unbind_lines(&env, purge),
                    Planned::Unbind(purge),
                )
            }
            ChangeAction::Destroy => {
                let client = client.ok_or_else(|| {
                    anyhow!("{} was not created by Pond; unbind releases it", r.env)
                })?;
                let (identity, _) = project::user_identity().await?;
                let (statuses, _) = p.statuses(&[i], &identity).await?;
                let hosted = shared_server::hosted_by_id(statuses);
                let plan = destroy::plan(&client, &p.file, &r.env, &hosted).await?;
                (plan.lines(), Planned::Destroy(plan))
            }
            ChangeAction::Scale => {
                let client = client.ok_or_else(|| {
                    anyhow!(
                        "{} was not created by Pond; only its load-balanced environments scale",
                        r.env
                    )
                })?;
                let price = match &env.size {
                    Some(size) => client
                        .catalog()
                        .await
                        .ok()
                        .and_then(|c| c.sizes.into_iter().find(|s| &s.slug == size))
                        .map(|s| s.price_monthly),
                    None => None,
                };
                let (identity, _) = project::user_identity().await?;
                let plan =
                    scale::plan(&p.file, &r.env, r.droplets, price, &identity.public_line())?;
                (plan.lines.clone(), Planned::Scale(plan))
            }
        })
    })
    .await?;
    plans.put(&req, planned, account);
    Ok(ChangePlan { lines })
}

/// Carries out the plan `plan_change` showed; returns one sentence saying
/// what was done.
#[tauri::command]
pub async fn change(
    req: ChangeRequest,
    on_event: Channel<Progress>,
    session: tauri::State<'_, SessionTokens>,
    plans: tauri::State<'_, Plans>,
) -> Res<String> {
    if req.confirm != req.env {
        return Err(anyhow!("type {} to confirm; nothing was changed", req.env).into());
    }
    let (planned, account) = plans.take(&req)?;
    let client = match account {
        Some(a) if !matches!(planned, Planned::Unbind(_)) => Some(client(a, &session).await?),
        _ => None,
    };
    engine(move || async move {
        let sink = channel_sink(on_event);
        let mut open = open_env(&req.dir, &req.env).await?;
        let client = || {
            client
                .as_ref()
                .ok_or_else(|| anyhow!("{} has no account", req.env))
        };
        match planned {
            Planned::Unbind(purge) => {
                let connected = if purge {
                    open.connect(&sink).await?.0
                } else {
                    vec![]
                };
                let p = &mut open.project;
                shared_server::unbind(&mut p.file, &p.path, &req.env, &connected, purge, &sink)
                    .await?;
                Ok(format!(
                    "{} is no longer in pond.json; no droplet was deleted.",
                    req.env
                ))
            }
            Planned::Destroy(plan) => {
                let servers = if plan.shared.is_empty() {
                    vec![]
                } else {
                    open.connect(&sink).await?.0
                };
                let p = &mut open.project;
                destroy::execute(client()?, &mut p.file, &p.path, &plan, &servers, &sink).await?;
                Ok(format!("{} is destroyed.", req.env))
            }
            Planned::Scale(plan) => {
                let p = &mut open.project;
                scale::execute(
                    client()?,
                    &mut p.file,
                    &p.path,
                    &p.root,
                    &open.identity,
                    &plan,
                    &sink,
                )
                .await?;
                Ok(format!(
                    "{} runs {} web droplets behind its load balancer.",
                    req.env, plan.target
                ))
            }
        }
    })
    .await
}

/// The account's droplets (for the wizard's "a server this account
/// already runs"), each with the Pond environments its tags name.
#[tauri::command]
pub async fn account_droplets(
    account: String,
    session: tauri::State<'_, SessionTokens>,
) -> Res<Vec<DropletChoice>> {
    let client = client(account, &session).await?;
    engine(move || async move {
        let droplets = client
            .list("/droplets", "droplets", "listing droplets")
            .await?;
        Ok(droplets
            .iter()
            .filter(|d| d["status"] == "active")
            .filter_map(|d| {
                let tags: Vec<&str> = d["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str())
                    .collect();
                Some(DropletChoice {
                    name: d["name"].as_str()?.to_string(),
                    address: pond::digitalocean::Client::public_ipv4(d)?,
                    region: d["region"]["slug"].as_str().unwrap_or_default().to_string(),
                    serves: tasks::droplets::environments_of_tags(&tags),
                })
            })
            .collect())
    })
    .await
}

/// A secret as one server holds it (names and times, never values).
#[derive(Debug, Serialize, TS)]
pub struct SecretView {
    pub server: String,
    pub name: String,
    /// When it was set (UTC, RFC 3339).
    pub set_at: String,
}

/// Set one secret to a typed value, generate one, or remove one.
#[derive(Deserialize, TS)]
pub struct SecretRequest {
    pub dir: String,
    pub env: String,
    pub name: String,
    /// "set", "generate" or "remove".
    pub action: String,
    /// The value to set (set only); never sent back to the window.
    pub value: Option<String>,
    /// Random bytes (generate only).
    pub bytes: u32,
    /// Base64 instead of hex (generate only).
    pub base64: bool,
}

impl std::fmt::Debug for SecretRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRequest")
            .field("env", &self.env)
            .field("name", &self.name)
            .field("action", &self.action)
            .field("value", &self.value.as_ref().map(|_| "(hidden)"))
            .finish()
    }
}

/// The environment's secrets on each of its web servers.
#[tauri::command]
pub async fn list_secrets(req: crate::view::EnvRef) -> Res<Vec<SecretView>> {
    engine(move || async move {
        let sink = pond::ssh::session::quiet();
        let (open, connected) = connect(&req.dir, &req.env, &sink).await?;
        let (p, env) = (&open.project, open.env().clone());
        let listed = tasks::secrets::list(&p.file, &env, &connected).await?;
        Ok(listed
            .into_iter()
            .flat_map(|(server, secrets)| {
                secrets.into_iter().map(move |s| SecretView {
                    server: server.clone(),
                    name: s.name,
                    set_at: s.set_at,
                })
            })
            .collect())
    })
    .await
}

/// Sets, generates or removes one secret on every web server.
#[tauri::command]
pub async fn change_secret(req: SecretRequest, on_event: Channel<Progress>) -> Res<String> {
    engine(move || async move {
        let sink = channel_sink(on_event);
        let (open, connected) = connect(&req.dir, &req.env, &sink).await?;
        let (p, env) = (&open.project, open.env().clone());
        let name = &req.name;
        match req.action.as_str() {
            "set" => {
                let value = req.value.as_deref().unwrap_or_default();
                tasks::secrets::check_value(name, value.as_bytes())?;
                tasks::secrets::set(&p.file, &env, &connected, name, value.as_bytes(), &sink)
                    .await?;
                Ok(format!("{name} is set; the next deploy fills it in."))
            }
            "generate" => {
                let how = tasks::secrets::Generate {
                    bytes: req.bytes,
                    base64: req.base64,
                    replace: false,
                };
                tasks::secrets::generate(&p.file, &env, &connected, name, how, &sink).await?;
                Ok(format!(
                    "{name} is generated on the servers; the next deploy fills it in."
                ))
            }
            "remove" => {
                tasks::secrets::remove(&p.file, &env, &connected, name, &sink).await?;
                Ok(format!("{name} is removed."))
            }
            other => bail!("unknown secret action {other:?}"),
        }
    })
    .await
}

/// Provisions the environment again (idempotent): what `pond check --fix`
/// does, from the panel when a server's setup differs; a load-balanced
/// environment's balancer gets its HTTPS back too, when the token is at
/// hand.
#[tauri::command]
pub async fn fix_setup(req: crate::view::EnvRef, on_event: Channel<Progress>) -> Res<String> {
    engine(move || async move {
        let sink = channel_sink(on_event);
        let (open, connected) = connect(&req.dir, &req.env, &sink).await?;
        let (p, env) = (&open.project, open.env().clone());
        tasks::provision::provision(&p.file, &env, &connected, &p.root, &sink).await?;
        let settings = pond::settings::Settings::load()?;
        let acme = match env.account.as_deref().and_then(|a| settings.account(a)) {
            Some(a) => pond::settings::accounts::acme(a)?,
            None => tasks::tls::Acme::lets_encrypt(),
        };
        tasks::tls::refresh_timer(&p.file, &env, &connected, &acme, &sink).await?;
        if tasks::lb_tls::balancer_to_secure(&env).is_some()
            && let Some(api) = env
                .account
                .as_deref()
                .and_then(|a| crate::wizard::client_for(a, None).ok())
        {
            tasks::lb_tls::apply_setting(&api, &p.file, &env, &sink).await?;
        }
        Ok(format!("{} is provisioned again.", req.env))
    })
    .await
}

/// New certificates now (`pond tls ENV --renew`): the domain's, on each
/// web server by HTTP-01 (installing the renewal timer), and the preview
/// hosts' wildcard by DNS-01 through the account's API; for a
/// load-balanced environment, a new certificate at its balancer
/// (`tasks::lb_tls`). A failed request leaves the certificates served as
/// they were; it is the error.
#[tauri::command]
pub async fn renew_certificates(
    req: crate::view::EnvRef,
    on_event: Channel<Progress>,
    session: tauri::State<'_, SessionTokens>,
) -> Res<String> {
    let account = {
        let p = open(&req.dir)?;
        let i = p.env_index(&req.env)?;
        p.file.environments[i].account.clone()
    };
    let api = match account.clone() {
        Some(a) => Some(client(a, &session).await?),
        None => None,
    };
    engine(move || async move {
        let sink = channel_sink(on_event);
        {
            // TLS ending at the balancer: a new certificate there, through
            // the API only.
            let p = open(&req.dir)?;
            let env = p.file.environments[p.env_index(&req.env)?].clone();
            if let Some(lb) = tasks::lb_tls::balancer_to_secure(&env) {
                let api = api.as_ref().ok_or_else(|| {
                    anyhow::anyhow!("{} has no DigitalOcean account in pond.json", req.env)
                })?;
                let balancer = tasks::lb_tls::Balancer::of(&p.file, &env, lb);
                tasks::lb_tls::ensure(api, &balancer, true, &sink).await?;
                return Ok(format!(
                    "{}'s load balancer has a new certificate.",
                    req.env
                ));
            }
        }
        let (open, connected) = connect(&req.dir, &req.env, &sink).await?;
        let (p, env) = (&open.project, open.env().clone());
        if !tasks::tls::wants_certificate(&env) {
            anyhow::bail!("{} keeps no certificate: HTTPS is off", req.env);
        }
        let settings = pond::settings::Settings::load()?;
        let acme = match account.as_deref().and_then(|a| settings.account(a)) {
            Some(a) => pond::settings::accounts::acme(a)?,
            None => tasks::tls::Acme::lets_encrypt(),
        };
        if let Some(api) = &api {
            tasks::tls::check_ca_for(api, &acme)?;
        }
        let mut failed = vec![];
        for o in tasks::tls::apply(&p.file, &env, &connected, &acme, true, &sink).await? {
            if o.result == "failed" {
                failed.push(format!("{}: {}", o.server, o.detail));
            }
        }
        if let Some(api) = &api {
            let outcomes = tasks::preview_tls::ensure(
                api,
                &p.file,
                &env,
                &connected,
                &acme,
                tasks::preview_tls::When::Force,
                &sink,
            )
            .await?;
            for o in outcomes {
                if o.result == "failed" {
                    failed.push(format!("{} (preview hosts): {}", o.server, o.detail));
                }
            }
        }
        if !failed.is_empty() {
            anyhow::bail!(
                "a certificate request failed; the certificates served stay as they were: {}",
                failed.join("; ")
            );
        }
        Ok(format!("{}'s certificates are renewed.", req.env))
    })
    .await
}

/// One command to run in a release of the environment (`pond exec`).
#[derive(Debug, Deserialize, TS)]
pub struct ExecRequest {
    pub dir: String,
    pub env: String,
    /// "live" or "inactive".
    pub colour: String,
    /// A web server's name; none: the environment's first.
    pub server: Option<String>,
    /// The command line, run with `sh -c` as the site user.
    pub command: String,
}

/// Runs a command as `pond exec` does; its output streams as progress
/// lines; returns its exit code.
#[tauri::command]
pub async fn exec_command(req: ExecRequest, on_event: Channel<Progress>) -> Res<u32> {
    engine(move || async move {
        let sink = channel_sink(on_event);
        let colour = match req.colour.as_str() {
            "live" => tasks::exec::Colour::Live,
            "inactive" => tasks::exec::Colour::Inactive,
            other => bail!("colour must be live or inactive, not {other:?}"),
        };
        if req.command.trim().is_empty() {
            bail!("type a command to run");
        }
        let (open, connected) = connect(&req.dir, &req.env, &sink).await?;
        let (p, env) = (&open.project, open.env().clone());
        let argv = vec!["sh".to_string(), "-c".to_string(), req.command.clone()];
        tasks::exec::run(
            &p.file,
            &env,
            &connected,
            req.server.as_deref(),
            colour,
            &argv,
            3600,
            &sink,
        )
        .await
    })
    .await
}
