//! DigitalOcean accounts as the user registered them: a name and API URL in
//! the settings file, the token in the keychain. Adding checks the token
//! against `/v2/account` first, so a typo never gets stored. Opening a
//! client for an account finds its token in the keychain, else in
//! `$POND_DO_TOKEN` (for scripts and CI), else the caller asks for it once
//! per session. Each account also names the ACME CA its servers' certificates
//! come from (Let's Encrypt unless set).

use anyhow::{Context, bail};

use super::keychain::Keychain;
use super::{Account, Settings};
use crate::config::grammar;
use crate::digitalocean::{Client, Token};
use crate::tasks::tls::Acme;

/// Where a token was kept after `add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// In the named keychain.
    Keychain(String),
    /// Nowhere: no keychain is usable; the reason is given. Pond asks for
    /// the token again in each session.
    SessionOnly(String),
}

/// Checks a name against pond.json's account grammar, so a registered
/// account can always be referenced from a project.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    grammar::account_name(name)
        .map_err(|expected| anyhow::anyhow!("account name {name:?} is not valid; {expected}"))
}

/// Asks the API who the token belongs to; the account's email on success.
pub async fn check_token(api_url: &str, token: &Token) -> anyhow::Result<String> {
    let client = Client::new(api_url, token.clone())?;
    let account = client
        .account()
        .await
        .with_context(|| format!("checking the token against {api_url}"))?;
    let status = account["status"].as_str().unwrap_or("active");
    if status != "active" {
        bail!("the DigitalOcean account at {api_url} is {status}, not active");
    }
    Ok(account["email"].as_str().unwrap_or("").to_string())
}

/// Registers (or re-registers) an account whose token `check_token` already
/// accepted: the token goes to the keychain, the rest to `settings`
/// (the caller saves them).
pub fn add(
    settings: &mut Settings,
    keychain: &Keychain,
    account: Account,
    token: &Token,
) -> anyhow::Result<Kept> {
    check_name(&account.name)?;
    let kept = if keychain.is_usable() {
        keychain.set_token(&account.name, token)?;
        Kept::Keychain(keychain.describe())
    } else {
        Kept::SessionOnly(keychain.describe())
    };
    settings.accounts.retain(|a| a.name != account.name);
    settings.accounts.push(account);
    settings.accounts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(kept)
}

/// The ACME CA of a registered account's servers: its own directory (and
/// the PEM that reaches it, read now), else Let's Encrypt's.
pub fn acme(account: &Account) -> anyhow::Result<Acme> {
    let Some(directory) = &account.acme_directory else {
        return Ok(Acme::lets_encrypt());
    };
    let ca_pem = match &account.acme_ca {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading the ACME CA file {} of account {}",
                path.display(),
                account.name
            )
        })?),
        None => None,
    };
    Ok(Acme {
        directory: directory.clone(),
        ca_pem,
    })
}

/// Forgets an account and deletes its token. An unknown name is an error
/// that lists the known ones.
pub fn remove(settings: &mut Settings, keychain: &Keychain, name: &str) -> anyhow::Result<()> {
    if settings.account(name).is_none() {
        bail!("no account named {name:?}; {}", known(settings));
    }
    if keychain.is_usable() {
        keychain.delete_token(name)?;
    }
    settings.accounts.retain(|a| a.name != name);
    Ok(())
}

/// "known accounts: a, b" or how to add one.
pub fn known(settings: &Settings) -> String {
    if settings.accounts.is_empty() {
        "no accounts are registered yet (pond account add NAME)".to_string()
    } else {
        let names: Vec<&str> = settings.accounts.iter().map(|a| a.name.as_str()).collect();
        format!("known accounts: {}", names.join(", "))
    }
}

/// The token for `name` from the keychain or `$POND_DO_TOKEN`; `None` when
/// the caller must ask the user.
pub fn stored_token(keychain: &Keychain, name: &str) -> anyhow::Result<Option<Token>> {
    if keychain.is_usable()
        && let Some(token) = keychain.token(name)?
    {
        return Ok(Some(token));
    }
    Ok(std::env::var("POND_DO_TOKEN").ok().map(Token::new))
}

/// A client for a registered account with a token already found.
pub fn client(settings: &Settings, name: &str, token: Token) -> anyhow::Result<Client> {
    let account = settings
        .account(name)
        .with_context(|| format!("no account named {name:?}; {}", known(settings)))?;
    Client::new(&account.api_url, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str) -> Account {
        Account {
            name: name.into(),
            api_url: "http://127.0.0.1:1/v2".into(),
            email: None,
            acme_directory: None,
            acme_ca: None,
        }
    }

    #[test]
    fn add_stores_the_token_only_in_the_keychain() {
        let k = Keychain::mock();
        let mut s = Settings::default();
        let kept = add(&mut s, &k, account("agency"), &Token::new("dop_v1_secret")).unwrap();
        assert!(matches!(kept, Kept::Keychain(_)));
        assert_eq!(
            k.token("agency").unwrap().unwrap().secret(),
            "dop_v1_secret"
        );
        let text = serde_json::to_string(&s).unwrap();
        assert!(!text.contains("dop_v1_secret"), "{text}");
        // Re-adding replaces, never duplicates.
        add(&mut s, &k, account("agency"), &Token::new("dop_v1_other")).unwrap();
        assert_eq!(s.accounts.len(), 1);
        assert_eq!(k.token("agency").unwrap().unwrap().secret(), "dop_v1_other");

        remove(&mut s, &k, "agency").unwrap();
        assert!(s.accounts.is_empty());
        assert!(k.token("agency").unwrap().is_none());
        let err = remove(&mut s, &k, "agency").unwrap_err().to_string();
        assert!(err.contains("no accounts are registered"), "{err}");
    }

    #[test]
    fn bad_names_are_refused_before_anything_is_stored() {
        let k = Keychain::mock();
        let mut s = Settings::default();
        for bad in ["", "a b", "$(id)", "../x", "Ag\u{435}ncy"] {
            let err = add(&mut s, &k, account(bad), &Token::new("t")).unwrap_err();
            assert!(err.to_string().contains("is not valid"), "{bad}: {err}");
            assert!(k.token(bad).map(|t| t.is_none()).unwrap_or(true));
        }
        assert!(s.accounts.is_empty());
    }
}
