//! The new-server wizard's commands: what the account offers (regions,
//! sizes with prices, images), whether DigitalOcean hosts the domain, the
//! list of actions a run will take, and the run itself with live progress.
//! Tokens come from the keychain, else from this session's memory (when no
//! keychain is usable), never from the window.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::anyhow;
use tauri::ipc::Channel;

use crate::commands::{Res, channel_sink, engine, open};
use crate::view::*;
use pond::config::Stack;
use pond::digitalocean::{Client, Token};
use pond::project;
use pond::settings::{Settings, accounts, keychain::Keychain};
use pond::tasks::{create, transfer};

/// Tokens typed in this session when no keychain is usable; gone when the
/// app quits.
#[derive(Default)]
pub struct SessionTokens(pub Mutex<HashMap<String, Token>>);

impl SessionTokens {
    pub fn remember(&self, account: &str, token: Token) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(account.to_string(), token);
        }
    }

    fn get(&self, account: &str) -> Option<Token> {
        self.0.lock().ok()?.get(account).cloned()
    }
}

/// A client for the account: keychain token, else this session's, else
/// `$POND_DO_TOKEN`. Blocking (the keychain).
pub(crate) fn client_for(account: &str, session: Option<Token>) -> anyhow::Result<Client> {
    let settings = Settings::load()?;
    let keychain = Keychain::open();
    let token = match session {
        Some(t) => Some(t),
        None => accounts::stored_token(&keychain, account)?,
    }
    .ok_or_else(|| {
        anyhow!(
            "the token of account {account} is not available ({}); add the account again in Settings to use it this session",
            keychain.describe()
        )
    })?;
    accounts::client(&settings, account, token)
}

pub(crate) async fn client(account: String, session: &SessionTokens) -> Res<Client> {
    let cached = session.get(&account);
    tauri::async_runtime::spawn_blocking(move || client_for(&account, cached))
        .await
        .map_err(|e| anyhow!("the task stopped unexpectedly: {e}"))?
        .map_err(Into::into)
}

#[tauri::command]
pub async fn catalog(
    account: String,
    session: tauri::State<'_, SessionTokens>,
) -> Res<CatalogView> {
    let client = client(account, &session).await?;
    engine(move || async move { Ok(CatalogView::from(client.catalog().await?)) }).await
}

#[tauri::command]
pub async fn check_domain(
    req: DomainCheckRequest,
    session: tauri::State<'_, SessionTokens>,
) -> Res<DomainCheck> {
    let client = client(req.account, &session).await?;
    let domain = req.domain;
    engine(move || async move {
        let hosted = client.hosts_domain(&domain).await?;
        let (delegated, dns) = match pond::delegation::check_for(&client, &domain).await {
            Some(Ok(d)) => (Some(d.to_digitalocean), d.note(&domain)),
            Some(Err(e)) => (None, format!("Could not check its name servers: {e:#}.")),
            None => (
                None,
                "Its name servers were not checked (no DNS resolver for this account).".to_string(),
            ),
        };
        let hosting = if hosted {
            format!("DigitalOcean already hosts {domain}.")
        } else {
            format!("DigitalOcean does not host {domain} yet; Pond will add it.")
        };
        Ok(DomainCheck {
            hosted,
            delegated,
            note: format!("{hosting} {dns}"),
        })
    })
    .await
}

fn input(
    req: &NewServerRequest,
    file_name: &str,
    stack: Stack,
) -> anyhow::Result<create::NewServer> {
    let (database, database_server) =
        create::database_choice(&req.database, file_name, &req.env, stack)
            .map_err(|e| anyhow!("database placement {e}"))?;
    let path = |p: &Option<String>| {
        p.as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(PathBuf::from)
    };
    let db_from = req
        .db_from
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(transfer::DbSource::parse)
        .transpose()
        .map_err(|e| anyhow!("database to copy: {e}"))?;
    let transfer = transfer::Transfer {
        db_from,
        db_dump: path(&req.db_dump),
        attachments: path(&req.attachments),
    };
    if transfer.db_dump.is_some() && transfer.db_from.is_some() {
        return Err(anyhow!(
            "choose a dump file or a database to copy, not both"
        ));
    }
    for p in transfer.db_dump.iter().chain(&transfer.attachments) {
        if !p.exists() {
            return Err(anyhow!("{} does not exist", p.display()));
        }
    }
    // The account's ACME CA (Let's Encrypt unless its settings say).
    let settings = pond::settings::Settings::load()?;
    let acme = match settings.account(&req.account) {
        Some(a) => pond::settings::accounts::acme(a)?,
        None => pond::tasks::tls::Acme::lets_encrypt(),
    };
    let new = create::NewServer {
        acme,
        account: req.account.clone(),
        env: req.env.clone(),
        region: req.region.clone(),
        size: req.size.clone(),
        image: req.image.clone(),
        domain: req.domain.clone(),
        secret_prefix: if req.secret_prefix.is_empty() {
            project::new_secret_prefix()
        } else {
            req.secret_prefix.clone()
        },
        database,
        database_server,
        tag: req.tag.clone(),
        active_timeout: std::time::Duration::from_secs(300),
        transfer,
        load_balanced: req.kind == "load_balanced",
        web_droplets: if req.kind == "load_balanced" {
            req.droplets.clamp(1, 20)
        } else {
            1
        },
        on: None,
    };
    new.check()?;
    Ok(new)
}

/// [`input`], put on the droplet the request names (when it names one):
/// its region, size and image are the droplet's.
async fn input_on(
    req: &NewServerRequest,
    client: &Client,
    file: &pond::config::ProjectFile,
) -> anyhow::Result<create::NewServer> {
    let mut new = input(req, &file.name, file.stack)?;
    if let Some(name) = req.on.as_deref().filter(|n| !n.is_empty()) {
        let (droplet, region, size, image) =
            pond::tasks::shared_server::find_droplet(client, file, name).await?;
        (new.region, new.size, new.image) = (region, size, image);
        new.on = Some(droplet);
        new.check()?;
    }
    Ok(new)
}

/// The requests creating `new`'s droplets, outlined: what the review shows
/// and a run compares with what it would send.
fn droplet_requests(
    new: &create::NewServer,
    file: &pond::config::ProjectFile,
    identity: &pond::ssh::Identity,
) -> anyhow::Result<Vec<String>> {
    let plan = pond::plan::Plan {
        title: format!("create {}", new.env),
        operations: new.droplet_requests(file, &identity.public_line())?,
    };
    Ok(plan.outline())
}

/// Refuses a run whose droplet requests (`now`) are not the ones the
/// review showed.
fn as_shown(shown: &[String], now: &[String]) -> anyhow::Result<()> {
    if shown != now {
        anyhow::bail!(
            "pond.json or your SSH key changed since the review (the droplets would be created with other requests); nothing was created. Go back and review again"
        );
    }
    Ok(())
}

/// Every action the run will take, with the size's monthly price.
#[tauri::command]
pub async fn plan_new_server(
    req: NewServerRequest,
    session: tauri::State<'_, SessionTokens>,
) -> Res<NewServerPlan> {
    let client = client(req.account.clone(), &session).await?;
    engine(move || async move {
        let p = open(&req.dir)?;
        let new = input_on(&req, &client, &p.file).await?;
        let price = client
            .catalog()
            .await?
            .sizes
            .iter()
            .find(|s| s.slug == new.size)
            .map(|s| s.price_monthly);
        let droplets = new.droplets_to_create();
        let (identity, _) = pond::project::user_identity().await?;
        Ok(NewServerPlan {
            lines: new.plan_lines(&p.file.name, price),
            requests: droplet_requests(&new, &p.file, &identity)?,
            droplets,
            price_monthly: price.map(|p| p * f64::from(droplets)),
        })
    })
    .await
}

#[tauri::command]
pub async fn new_server(
    req: NewServerRequest,
    on_event: Channel<Progress>,
    session: tauri::State<'_, SessionTokens>,
    runs: tauri::State<'_, crate::cancel::Runs>,
) -> Res<UrlsView> {
    run(req, on_event, &session, &runs, false).await
}

/// Finishes a new-server run that stopped (cancelled, or failed after its
/// droplets were created): provision, DNS, first deploy, health.
#[tauri::command]
pub async fn resume_new_server(
    req: NewServerRequest,
    on_event: Channel<Progress>,
    session: tauri::State<'_, SessionTokens>,
    runs: tauri::State<'_, crate::cancel::Runs>,
) -> Res<UrlsView> {
    run(req, on_event, &session, &runs, true).await
}

/// A new-server run, or the resumption of one, that Stop ends after its
/// current step.
async fn run(
    req: NewServerRequest,
    on_event: Channel<Progress>,
    session: &SessionTokens,
    runs: &crate::cancel::Runs,
    resume: bool,
) -> Res<UrlsView> {
    let client = client(req.account.clone(), session).await?;
    let run_id = req.run_id.clone();
    crate::cancel::stoppable(runs, run_id, move |stop| async move {
        let sink = channel_sink(on_event);
        let mut p = open(&req.dir)?;
        let new = input_on(&req, &client, &p.file).await?;
        let (identity, _) = project::user_identity().await?;
        let (file, path, root) = (&mut p.file, &p.path, &p.root);
        let urls = if resume {
            let (env, tag, transfer, acme) = (&new.env, &new.tag, &new.transfer, &new.acme);
            create::resume(
                &client, file, path, root, &identity, env, tag, transfer, acme, &stop, &sink,
            )
            .await?
        } else {
            if let Some(shown) = &req.shown_requests {
                as_shown(shown, &droplet_requests(&new, file, &identity)?)?;
            }
            create::new_server(&client, file, path, root, &identity, &new, &stop, &sink).await?
        };
        Ok(urls_view(urls))
    })
    .await
}

fn urls_view(urls: create::Urls) -> UrlsView {
    UrlsView {
        production: urls.production,
        preview: urls.preview,
        blue: urls.blue,
        green: urls.green,
        https_problem: urls.https_problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_sends_only_the_requests_the_review_showed() {
        let shown = vec![
            "[1] create droplet a-b-1 … Post /v2/droplets {\"ssh_keys\":[\"aa\"]}".to_string(),
        ];
        assert!(as_shown(&shown, &shown.clone()).is_ok());
        let other = vec![shown[0].replace("aa", "bb")];
        let err = as_shown(&shown, &other).unwrap_err().to_string();
        assert!(err.contains("nothing was created"), "{err}");
        assert!(as_shown(&[], &[]).is_ok(), "nothing to create (--on)");
    }
}
