//! `pond account add|list|remove`: the user's DigitalOcean accounts, and
//! the one place the CLI turns an account name into an API client (asking
//! for the token when no keychain holds it). Tokens are read from stdin or
//! a no-echo prompt — never from argv, where `ps` and shell history see them.

use std::io::{IsTerminal, Read};

use anyhow::{Context, anyhow};
use clap::Subcommand;

use super::{CliResult, Failure};
use pond::digitalocean::{Client, DEFAULT_API_URL, Token};
use pond::settings::accounts::{self, Kept};
use pond::settings::keychain::Keychain;
use pond::settings::{Account, Settings};

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Register a DigitalOcean account: the token (read from stdin, or a
    /// hidden prompt on a terminal) is checked against the API, then stored
    /// in the OS keychain.
    Add {
        /// Name projects use to refer to this account.
        name: String,
        /// API base URL (the lab's, for example).
        #[arg(long, default_value = DEFAULT_API_URL)]
        api_url: String,
        /// The ACME directory this account's servers get certificates from
        /// (default: Let's Encrypt's production directory; the lab's is
        /// $POND_ACME_DIRECTORY).
        #[arg(long, conflicts_with = "acme_staging")]
        acme_directory: Option<String>,
        /// Use Let's Encrypt's staging directory (untrusted certificates,
        /// for trying things out).
        #[arg(long)]
        acme_staging: bool,
        /// A PEM file the servers trust to reach the ACME directory (the
        /// lab's: $POND_ACME_CA).
        #[arg(long, requires = "acme_directory")]
        acme_ca: Option<std::path::PathBuf>,
    },
    /// List registered accounts and where their tokens are.
    List {
        /// Print the list as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Check that an account's token still works (asks the API who it is).
    Check { name: String },
    /// Forget an account and delete its token from the keychain.
    Remove { name: String },
}

pub fn run(command: AccountCommand) -> CliResult {
    match command {
        AccountCommand::Add {
            name,
            api_url,
            acme_directory,
            acme_staging,
            acme_ca,
        } => {
            let acme_directory = match (acme_directory, acme_staging) {
                (Some(d), _) => Some(d),
                (None, true) => Some(pond::tasks::tls::LETS_ENCRYPT_STAGING.to_string()),
                (None, false) => None,
            };
            add(name, api_url, acme_directory, acme_ca)
        }
        AccountCommand::List { json } => list(json),
        AccountCommand::Check { name } => check(&name),
        AccountCommand::Remove { name } => {
            let mut settings = Settings::load()?;
            accounts::remove(&mut settings, &Keychain::open(), &name)
                .map_err(|e| Failure::invalid(e, vec![]))?;
            settings.save()?;
            eprintln!("Removed account {name}.");
            Ok(())
        }
    }
}

fn add(
    name: String,
    api_url: String,
    acme_directory: Option<String>,
    acme_ca: Option<std::path::PathBuf>,
) -> CliResult {
    accounts::check_name(&name).map_err(|e| Failure::invalid(e, vec![]))?;
    if let Some(d) = &acme_directory
        && !d.starts_with("https://")
    {
        return Err(Failure::invalid(
            anyhow!("--acme-directory {d:?}: expected an https:// URL"),
            vec![],
        ));
    }
    let acme_ca = match acme_ca {
        Some(path) => {
            let pem = std::fs::read_to_string(&path)
                .with_context(|| format!("--acme-ca: reading {}", path.display()))?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(Failure::invalid(
                    anyhow!("--acme-ca {}: not a PEM certificate", path.display()),
                    vec![],
                ));
            }
            Some(
                std::fs::canonicalize(&path)
                    .with_context(|| format!("--acme-ca: {}", path.display()))?,
            )
        }
        None => None,
    };
    let token = read_token(&format!("DigitalOcean token for {name}: "))?;
    let email = super::session::runtime()?.block_on(accounts::check_token(&api_url, &token))?;
    let keychain = Keychain::open();
    let mut settings = Settings::load()?;
    let account = Account {
        name: name.clone(),
        api_url,
        email: Some(email.clone()).filter(|e| !e.is_empty()),
        acme_directory,
        acme_ca,
    };
    let kept = accounts::add(&mut settings, &keychain, account, &token)?;
    settings.save()?;
    match kept {
        Kept::Keychain(store) => {
            eprintln!("Added account {name} ({email}); token stored in {store}.")
        }
        Kept::SessionOnly(why) => eprintln!(
            "Added account {name} ({email}), but the token was NOT stored: {why}.\n\
             Pond will ask for it in each session (or set POND_DO_TOKEN)."
        ),
    }
    Ok(())
}

fn check(name: &str) -> CliResult {
    let settings = Settings::load()?;
    let Some(account) = settings.account(name) else {
        return Err(Failure::invalid(
            anyhow!("no account named {name:?}; {}", accounts::known(&settings)),
            vec![],
        ));
    };
    let client = client_for(name)?;
    let info = super::session::runtime()?.block_on(client.account())?;
    println!(
        "{name}: {} ({}) at {}",
        info["email"].as_str().unwrap_or("?"),
        info["status"].as_str().unwrap_or("?"),
        account.api_url
    );
    Ok(())
}

fn list(json: bool) -> CliResult {
    let settings = Settings::load()?;
    let keychain = Keychain::open();
    let mut rows = Vec::new();
    for a in &settings.accounts {
        let token = match keychain.is_usable() {
            true => match keychain.token(&a.name) {
                Ok(Some(_)) => "in keychain".to_string(),
                Ok(None) => "missing (pond account add again)".to_string(),
                Err(e) => format!("unreadable: {e:#}"),
            },
            false => "asked per session".to_string(),
        };
        rows.push((a, token));
    }
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(a, token)| {
                serde_json::json!({
                    "name": a.name, "api_url": a.api_url, "email": a.email, "token": token,
                })
            })
            .collect();
        let out = serde_json::json!({"keychain": keychain.describe(), "accounts": list});
        println!(
            "{}",
            serde_json::to_string_pretty(&out).context("serializing")?
        );
        return Ok(());
    }
    println!("Keychain: {}", keychain.describe());
    if rows.is_empty() {
        println!("No accounts yet. Add one with: pond account add NAME");
    }
    for (a, token) in rows {
        let email = a.email.as_deref().unwrap_or("-");
        println!(
            "{:<16} {:<28} {:<40} token {}",
            a.name, email, a.api_url, token
        );
    }
    Ok(())
}

/// A token from stdin when it is not a terminal, else a hidden prompt.
fn read_token(question: &str) -> anyhow::Result<Token> {
    let stdin = std::io::stdin();
    let text = if stdin.is_terminal() {
        prompt_hidden(question)?
    } else {
        let mut text = String::new();
        stdin
            .lock()
            .read_to_string(&mut text)
            .context("reading the token from stdin")?;
        text
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(anyhow!(
            "no token given (pipe it on stdin or type it at the prompt)"
        ));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(anyhow!(
            "the token contains spaces or control characters; paste only the token"
        ));
    }
    Ok(Token::new(token))
}

/// Reads one line from the terminal with echo off (Windows: the
/// console's, through `rpassword`).
#[cfg(windows)]
pub(super) fn prompt_hidden(question: &str) -> anyhow::Result<String> {
    rpassword::prompt_password(question).context("reading the token")
}

/// Reads one line from the terminal with echo off.
#[cfg(unix)]
pub(super) fn prompt_hidden(question: &str) -> anyhow::Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    use std::io::Write;
    let stdin = std::io::stdin();
    let mut err = std::io::stderr();
    write!(err, "{question}")?;
    err.flush()?;
    let saved = tcgetattr(&stdin).context("reading terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("turning off echo")?;
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    tcsetattr(&stdin, SetArg::TCSANOW, &saved).context("restoring terminal settings")?;
    read.context("reading the token")?;
    Ok(line)
}

/// An API client for the named account when its token is at hand without
/// asking (the keychain, `$POND_DO_TOKEN`, the lab's variables); None
/// otherwise. For work a command does on the side.
pub fn client_quietly(name: &str) -> Option<Client> {
    let settings = Settings::load().ok()?;
    if settings.account(name).is_some() {
        let token = accounts::stored_token(&Keychain::open(), name)
            .ok()
            .flatten()?;
        return accounts::client(&settings, name, token).ok();
    }
    if std::env::var_os("POND_DO_TOKEN").is_some() || std::env::var_os("POND_LAB_TOKEN").is_some() {
        return client_for(name).ok();
    }
    None
}

/// The ACME CA of the named account's servers: a registered account's
/// own (Let's Encrypt unless set); for an account that is not registered,
/// `$POND_ACME_DIRECTORY` (+ `$POND_ACME_CA`, what `eval "$(pond lab up)"`
/// sets) when set, else Let's Encrypt.
pub fn acme_for(name: &str) -> anyhow::Result<pond::tasks::tls::Acme> {
    let settings = Settings::load()?;
    if let Some(account) = settings.account(name) {
        return accounts::acme(account);
    }
    match std::env::var("POND_ACME_DIRECTORY") {
        Ok(directory) => {
            let ca_pem = match std::env::var_os("POND_ACME_CA") {
                Some(path) => Some(std::fs::read_to_string(&path).with_context(|| {
                    format!("reading $POND_ACME_CA ({})", path.to_string_lossy())
                })?),
                None => None,
            };
            Ok(pond::tasks::tls::Acme { directory, ca_pem })
        }
        Err(_) => Ok(pond::tasks::tls::Acme::lets_encrypt()),
    }
}

/// An API client for the named account: its keychain token, else
/// `$POND_DO_TOKEN`, else a prompt on a terminal. An account that is not
/// registered falls back to `$POND_DO_TOKEN` (+ `$POND_DO_API_URL`) and then
/// to the lab's variables (what `eval "$(pond lab up)"` sets).
pub fn client_for(name: &str) -> anyhow::Result<Client> {
    let settings = Settings::load()?;
    if settings.account(name).is_some() {
        let keychain = Keychain::open();
        let token = match accounts::stored_token(&keychain, name)? {
            Some(token) => token,
            None if std::io::stdin().is_terminal() => {
                eprintln!(
                    "The token of account {name} is not stored ({}).",
                    keychain.describe()
                );
                read_token(&format!("DigitalOcean token for {name}: "))?
            }
            None => {
                return Err(anyhow!(
                    "account {name} has no token here ({}); set POND_DO_TOKEN or run pond account add {name}",
                    keychain.describe()
                ));
            }
        };
        return accounts::client(&settings, name, token);
    }
    if let Ok(token) = std::env::var("POND_DO_TOKEN") {
        let url = std::env::var("POND_DO_API_URL").unwrap_or_else(|_| DEFAULT_API_URL.to_string());
        return Client::new(&url, Token::new(token));
    }
    if let (Ok(token), Ok(url)) = (
        std::env::var("POND_LAB_TOKEN"),
        std::env::var("POND_LAB_API_URL"),
    ) {
        eprintln!("Account {name} is not registered; using the lab at {url} (POND_LAB_API_URL).");
        return Client::new(&url, Token::new(token));
    }
    Err(anyhow!(
        "no account named {name:?}; {}",
        accounts::known(&settings)
    ))
}
