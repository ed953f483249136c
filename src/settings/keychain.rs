//! The OS keychain, the only place Pond stores a DigitalOcean token.
//!
//! Which store is used: `$POND_KEYCHAIN` when set (`secret-service`,
//! `keyutils`, `none`); otherwise the platform's own (macOS Keychain,
//! Windows Credential Manager) or, on Linux, the Secret Service if a probe
//! answers, then the kernel keyring (kept until reboot). When none is usable
//! the keychain is [`Keychain::unavailable`] and callers ask for the token
//! once per session instead — Pond never falls back to a plaintext file.
//! The stores are blocking: call them outside async tasks (or through
//! `spawn_blocking`).

use std::sync::Arc;

use anyhow::anyhow;
use keyring_core::{CredentialStore, Entry, Error};

use crate::digitalocean::Token;

/// The keychain service name every Pond entry is filed under.
pub const SERVICE: &str = "pond";

/// An opened keychain, or the reason there is none.
#[derive(Clone)]
pub struct Keychain {
    store: Option<Arc<CredentialStore>>,
    /// Human name of the store, e.g. "Secret Service".
    name: String,
    /// Why no store is usable (only when `store` is `None`).
    unavailable: Option<String>,
}

impl std::fmt::Debug for Keychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

fn entry_user(account: &str) -> String {
    format!("digitalocean:{account}")
}

/// Words a store error for a person, with what Pond was doing.
fn explain(doing: &str, e: Error) -> anyhow::Error {
    match e {
        Error::NoStorageAccess(inner) => anyhow!(
            "{doing}: the keychain refused access (is it locked? unlock it and retry): {inner}"
        ),
        Error::NoDefaultStore => anyhow!("{doing}: no keychain is configured"),
        other => anyhow!("{doing}: keychain error: {other}"),
    }
}

/// A store is usable when reading an absent entry answers "no entry"
/// (Linux's stores need asking; macOS's and Windows' are always there).
#[cfg(target_os = "linux")]
fn probe(store: &Arc<CredentialStore>) -> Result<(), String> {
    let entry = Entry::new_in_store(store, SERVICE, "probe").map_err(|e| e.to_string())?;
    match entry.get_password() {
        Ok(_) | Err(Error::NoEntry) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

impl Keychain {
    /// Opens the keychain the policy above picks.
    pub fn open() -> Keychain {
        let choice = std::env::var("POND_KEYCHAIN").unwrap_or_default();
        match choice.as_str() {
            "" => Keychain::open_default(),
            "none" => Keychain::unavailable("POND_KEYCHAIN=none"),
            #[cfg(target_os = "linux")]
            "secret-service" => Keychain::secret_service().unwrap_or_else(Keychain::unavailable),
            #[cfg(target_os = "linux")]
            "keyutils" => Keychain::keyutils().unwrap_or_else(Keychain::unavailable),
            other => Keychain::unavailable(format!(
                "POND_KEYCHAIN={other:?} is not a store this build knows \
                 (expected secret-service, keyutils or none)"
            )),
        }
    }

    #[cfg(target_os = "linux")]
    fn open_default() -> Keychain {
        match Keychain::secret_service() {
            Ok(k) => k,
            Err(ss) => match Keychain::keyutils() {
                Ok(k) => k,
                Err(ku) => Keychain::unavailable(format!(
                    "no Secret Service ({ss}) and no kernel keyring ({ku})"
                )),
            },
        }
    }

    #[cfg(target_os = "macos")]
    fn open_default() -> Keychain {
        match apple_native_keyring_store::keychain::Store::new() {
            Ok(s) => Keychain::usable(s, "macOS Keychain"),
            Err(e) => Keychain::unavailable(e.to_string()),
        }
    }

    #[cfg(target_os = "windows")]
    fn open_default() -> Keychain {
        match windows_native_keyring_store::Store::new() {
            Ok(s) => Keychain::usable(s, "Windows Credential Manager"),
            Err(e) => Keychain::unavailable(e.to_string()),
        }
    }

    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
    fn open_default() -> Keychain {
        Keychain::unavailable("no keychain support on this platform")
    }

    #[cfg(target_os = "linux")]
    fn secret_service() -> Result<Keychain, String> {
        let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()
            .map_err(|e| format!("Secret Service: {e}"))?;
        probe(&store).map_err(|e| format!("Secret Service: {e}"))?;
        Ok(Keychain::usable(store, "Secret Service"))
    }

    #[cfg(target_os = "linux")]
    fn keyutils() -> Result<Keychain, String> {
        let store: Arc<CredentialStore> = linux_keyutils_keyring_store::Store::new()
            .map_err(|e| format!("kernel keyring: {e}"))?;
        probe(&store).map_err(|e| format!("kernel keyring: {e}"))?;
        Ok(Keychain::usable(
            store,
            "kernel keyring (kept until reboot)",
        ))
    }

    /// An in-memory store, for tests.
    pub fn mock() -> Keychain {
        let store: Arc<CredentialStore> =
            keyring_core::mock::Store::new().expect("the mock store always opens");
        Keychain::usable(store, "in-memory test store")
    }

    fn usable(store: Arc<CredentialStore>, name: &str) -> Keychain {
        Keychain {
            store: Some(store),
            name: name.to_string(),
            unavailable: None,
        }
    }

    fn unavailable(reason: impl Into<String>) -> Keychain {
        Keychain {
            store: None,
            name: "none".to_string(),
            unavailable: Some(reason.into()),
        }
    }

    pub fn is_usable(&self) -> bool {
        self.store.is_some()
    }

    /// One line for people: the store's name, or why there is none.
    pub fn describe(&self) -> String {
        match &self.unavailable {
            None => self.name.clone(),
            Some(why) => format!("no usable keychain: {why}"),
        }
    }

    fn entry(&self, account: &str, doing: &str) -> anyhow::Result<Entry> {
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| anyhow!("{doing}: {}", self.describe()))?;
        Entry::new_in_store(store, SERVICE, &entry_user(account)).map_err(|e| explain(doing, e))
    }

    /// Stores (or replaces) the account's token.
    pub fn set_token(&self, account: &str, token: &Token) -> anyhow::Result<()> {
        let doing = format!("saving the token of account {account:?}");
        self.entry(account, &doing)?
            .set_password(token.secret())
            .map_err(|e| explain(&doing, e))
    }

    /// The account's token, or `None` when the keychain has no entry.
    pub fn token(&self, account: &str) -> anyhow::Result<Option<Token>> {
        let doing = format!("reading the token of account {account:?}");
        match self.entry(account, &doing)?.get_password() {
            Ok(secret) => Ok(Some(Token::new(secret))),
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(explain(&doing, e)),
        }
    }

    /// Deletes the account's token; `false` when there was none.
    pub fn delete_token(&self, account: &str) -> anyhow::Result<bool> {
        let doing = format!("deleting the token of account {account:?}");
        match self.entry(account, &doing)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(Error::NoEntry) => Ok(false),
            Err(e) => Err(explain(&doing, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_store_keeps_tokens_per_account() {
        let k = Keychain::mock();
        assert!(k.is_usable());
        assert!(k.token("a").unwrap().is_none());
        k.set_token("a", &Token::new("dop_v1_aaa")).unwrap();
        k.set_token("b", &Token::new("dop_v1_bbb")).unwrap();
        assert_eq!(k.token("a").unwrap().unwrap().secret(), "dop_v1_aaa");
        k.set_token("a", &Token::new("dop_v1_new")).unwrap();
        assert_eq!(k.token("a").unwrap().unwrap().secret(), "dop_v1_new");
        assert!(k.delete_token("a").unwrap());
        assert!(!k.delete_token("a").unwrap());
        assert!(k.token("a").unwrap().is_none());
        assert_eq!(k.token("b").unwrap().unwrap().secret(), "dop_v1_bbb");
    }

    #[test]
    fn an_unavailable_keychain_says_why_and_stores_nothing() {
        let k = Keychain::unavailable("POND_KEYCHAIN=none");
        assert!(!k.is_usable());
        let err = k.set_token("a", &Token::new("secret-value")).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("no usable keychain: POND_KEYCHAIN=none"),
            "{text}"
        );
        assert!(!text.contains("secret-value"));
    }

    #[test]
    fn a_locked_store_is_reported_as_locked() {
        let k = Keychain::mock();
        let store = k.store.clone().unwrap();
        let entry = Entry::new_in_store(&store, SERVICE, &entry_user("a")).unwrap();
        let mock: &keyring_core::mock::Cred = entry.as_any().downcast_ref().unwrap();
        mock.set_error(Error::NoStorageAccess(Box::new(std::io::Error::other(
            "locked",
        ))));
        let err = explain("reading", entry.get_password().unwrap_err()).to_string();
        assert!(err.contains("is it locked"), "{err}");
    }
}
