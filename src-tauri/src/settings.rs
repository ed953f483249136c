//! The Settings screen's commands: DigitalOcean accounts (the token checked
//! against the API, then kept in the keychain and never sent back), the
//! user's SSH key, and the field checks every form calls as the user types
//! (the engine's own rules).

use anyhow::anyhow;

use crate::commands::{Res, blocking, engine};
use crate::view::*;
use pond::project;
use pond::settings::{Settings, accounts, keychain::Keychain};

#[tauri::command]
pub async fn list_accounts() -> Res<AccountsView> {
    blocking(|| {
        let settings = Settings::load()?;
        let keychain = Keychain::open();
        let accounts = settings
            .accounts
            .iter()
            .map(|a| AccountView {
                name: a.name.clone(),
                api_url: a.api_url.clone(),
                email: a.email.clone(),
                token_stored: keychain.is_usable()
                    && matches!(keychain.token(&a.name), Ok(Some(_))),
                acme: acme_words(a),
            })
            .collect();
        Ok(AccountsView {
            keychain: keychain.describe(),
            keychain_usable: keychain.is_usable(),
            accounts,
        })
    })
    .await
}

/// Checks the token against the API, then keeps it in the keychain. The
/// token is never sent back to the window.
#[tauri::command]
pub async fn add_account(
    req: AddAccount,
    session: tauri::State<'_, crate::wizard::SessionTokens>,
) -> Res<AccountView> {
    accounts::check_name(&req.name)?;
    let acme_directory = req
        .acme_directory
        .clone()
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty());
    if let Some(d) = &acme_directory
        && !d.starts_with("https://")
    {
        return Err(anyhow!("ACME directory {d:?}: expected an https:// URL").into());
    }
    let acme_ca = match req
        .acme_ca
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(path) => {
            let pem =
                std::fs::read_to_string(path).map_err(|e| anyhow!("ACME CA file {path}: {e}"))?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(anyhow!("ACME CA file {path}: not a PEM certificate").into());
            }
            Some(std::path::PathBuf::from(path))
        }
        None => None,
    };
    let token = pond::digitalocean::Token::new(req.token.trim());
    let (url, checked) = (req.api_url.clone(), token.clone());
    let email = engine(move || async move { accounts::check_token(&url, &checked).await }).await?;
    let name = req.name.clone();
    let kept_token = token.clone();
    let view = blocking(move || {
        let keychain = Keychain::open();
        let mut settings = Settings::load()?;
        let account = pond::settings::Account {
            name: name.clone(),
            api_url: req.api_url,
            email: Some(email.clone()).filter(|e| !e.is_empty()),
            acme_directory,
            acme_ca,
        };
        let kept = accounts::add(&mut settings, &keychain, account.clone(), &token)?;
        settings.save()?;
        Ok(AccountView {
            acme: acme_words(&account),
            name,
            api_url: account.api_url,
            email: account.email,
            token_stored: matches!(kept, accounts::Kept::Keychain(_)),
        })
    })
    .await?;
    if !view.token_stored {
        session.remember(&view.name, kept_token);
    }
    Ok(view)
}

#[tauri::command]
pub async fn remove_account(name: String) -> Res<()> {
    blocking(move || {
        let mut settings = Settings::load()?;
        accounts::remove(&mut settings, &Keychain::open(), &name)?;
        settings.save()
    })
    .await
}

#[tauri::command]
pub async fn ssh_key() -> Res<KeyView> {
    engine(|| async {
        let (identity, _) = project::user_identity().await?;
        Ok(KeyView {
            path: identity.path.display().to_string(),
            fingerprint: identity.fingerprint(),
            public_key: identity.public_line(),
        })
    })
    .await
}

/// `None` when the value is valid, else what is expected.
#[tauri::command]
pub fn check_field(req: FieldCheck) -> Option<String> {
    use pond::config::grammar;
    let v = req.value.as_str();
    let result = match req.kind.as_str() {
        "project_name" => grammar::project_name(v),
        "env_name" => grammar::env_name(v),
        "account_name" => grammar::account_name(v),
        "domain" => grammar::domain(v),
        "secret_prefix" => grammar::secret_prefix(v),
        "db_name" => grammar::db_name(v),
        "db_user" => grammar::db_user(v),
        "do_slug" => grammar::do_slug(v),
        "ipv4" => grammar::ipv4(v),
        "db_source" => pond::tasks::transfer::DbSource::parse(v).map(|_| ()),
        "member_name" => grammar::member_name(v),
        "public_key" if v.contains("PRIVATE KEY") => {
            return Some("this is a PRIVATE key; use the one line of its .pub file".into());
        }
        "public_key" => grammar::public_key(v),
        "build_tag" => {
            return pond::tasks::state::check_tag(v)
                .err()
                .map(|e| format!("{e:#}"));
        }
        other => return Some(format!("unknown field kind {other:?}")),
    };
    result.err().map(|expected| expected.to_string())
}

/// Where an account's certificates come from, in words.
fn acme_words(a: &pond::settings::Account) -> String {
    pond::tasks::tls::Acme {
        directory: a
            .acme_directory
            .clone()
            .unwrap_or_else(|| pond::tasks::tls::LETS_ENCRYPT.to_string()),
        ca_pem: None,
    }
    .describe()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [&str; 11] = [
        "member_name",
        "public_key",
        "project_name",
        "env_name",
        "account_name",
        "domain",
        "secret_prefix",
        "db_name",
        "db_user",
        "do_slug",
        "build_tag",
    ];

    #[test]
    fn every_field_refuses_hostile_input_with_the_engines_message() {
        let long = "x".repeat(300);
        let hostile = [
            "",
            "$(id)",
            "`id`",
            "a'b",
            "a\"b",
            "a\nb",
            "../etc",
            "a;rm -rf /",
            "shop\u{0430}",
            long.as_str(),
            "a b",
            "a\u{0}b",
        ];
        for kind in KINDS {
            for value in hostile {
                let answer = check_field(FieldCheck {
                    kind: kind.into(),
                    value: value.into(),
                });
                assert!(answer.is_some(), "{kind} accepted {value:?}");
            }
        }
    }

    #[test]
    fn good_values_pass_and_unknown_kinds_are_named() {
        let good = [
            ("project_name", "acme-shop"),
            ("env_name", "production"),
            ("account_name", "agency"),
            ("domain", "shop.example.com"),
            ("secret_prefix", "k3x9q2abcdefgh"),
            ("db_name", "acme_shop"),
            ("db_user", "acme_shop"),
            ("do_slug", "s-1vcpu-1gb"),
            ("build_tag", "v1.2.3"),
            ("member_name", "ana"),
            (
                "public_key",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH1oE2Vf4d8b6k2m4n6p8r0t2v4x6z8B0D2F4H6J8L0N ana",
            ),
        ];
        for (kind, value) in good {
            let answer = check_field(FieldCheck {
                kind: kind.into(),
                value: value.into(),
            });
            assert_eq!(answer, None, "{kind} refused {value:?}");
        }
        let unknown = check_field(FieldCheck {
            kind: "password".into(),
            value: "x".into(),
        });
        assert_eq!(unknown.as_deref(), Some("unknown field kind \"password\""));
    }

    #[test]
    fn hints_name_what_to_do() {
        let e = UiError::from(anyhow!(
            "deploying: production is locked by ana@laptop (pid 42)"
        ));
        assert!(e.hint.unwrap().contains("--break-lock"));
        assert!(UiError::from(anyhow!("something else")).hint.is_none());
    }
}
