//! The user's own settings, kept apart from the shared project file: where
//! they live (`config_dir`), the non-secret settings file (registered
//! DigitalOcean accounts by name and API URL, recent projects), and — in
//! [`keychain`] — the only place a DigitalOcean token is ever stored.
//! [`accounts`] ties the two together: add (token checked against the API
//! first), list, remove, and open a client for an account.

pub mod accounts;
pub mod keychain;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Pond's per-user config dir (settings, the SSH key): `$POND_CONFIG_DIR`,
/// else the platform's config dir from `dirs` plus `pond` —
/// `$XDG_CONFIG_HOME/pond` or `~/.config/pond` on Linux,
/// `~/Library/Application Support/pond` on macOS, `%APPDATA%\pond` on
/// Windows.
pub fn config_dir() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("POND_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    let dir = dirs::config_dir()
        .map(|d| d.join("pond"))
        .context("this system names no per-user config directory (is HOME set?)")?;
    // Before Pond used the platform's dir it used ~/.config/pond
    // everywhere: a macOS or Windows user who has one keeps it (and with it
    // the SSH key their servers know) until they move it.
    if !dir.exists()
        && let Some(legacy) = dirs::home_dir().map(|h| h.join(".config/pond"))
        && legacy != dir
        && legacy.join("settings.json").is_file()
    {
        return Ok(legacy);
    }
    Ok(dir)
}

/// Pond's per-user cache dir (what can be rebuilt, like the deploy's file
/// hash cache): `$POND_CONFIG_DIR/cache` when that is set (one place for a
/// test or a script), else the platform's cache dir plus `pond` —
/// `$XDG_CACHE_HOME/pond` or `~/.cache/pond`, `~/Library/Caches/pond`,
/// `%LOCALAPPDATA%\pond`.
pub fn cache_dir() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("POND_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("cache"));
    }
    dirs::cache_dir()
        .map(|d| d.join("pond"))
        .context("this system names no per-user cache directory (is HOME set?)")
}

/// A DigitalOcean account the user registered; its token is in the keychain
/// under the account's name, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub name: String,
    /// Base URL of the API, e.g. `https://api.digitalocean.com/v2` or the
    /// lab's.
    pub api_url: String,
    /// The account's email as the API reported it when the token was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The ACME directory its servers get certificates from (None: Let's
    /// Encrypt's production directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme_directory: Option<String>,
    /// A PEM file the servers trust to reach that directory (the lab's CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme_ca: Option<PathBuf>,
}

/// `settings.json` in the config dir. Holds no secrets by construction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub accounts: Vec<Account>,
    /// Project directories opened recently, newest first.
    #[serde(default)]
    pub recent_projects: Vec<PathBuf>,
}

impl Settings {
    pub fn path() -> anyhow::Result<PathBuf> {
        Ok(config_dir()?.join("settings.json"))
    }

    /// Reads the settings file; a missing file is empty settings.
    pub fn load() -> anyhow::Result<Settings> {
        Settings::load_from(&Settings::path()?)
    }

    pub fn load_from(path: &Path) -> anyhow::Result<Settings> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let de = &mut serde_json::Deserializer::from_slice(&bytes);
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let at = e.path().to_string();
                    anyhow::anyhow!("{}: at {at}: {}", path.display(), e.into_inner())
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn save(&self) -> anyhow::Result<()> {
        self.save_to(&Settings::path()?)
    }

    pub fn save_to(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        crate::config::write_atomically(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    }

    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }

    /// Puts `dir` first in the recent list (at most 10 kept).
    pub fn remember_project(&mut self, dir: &Path) {
        self.recent_projects.retain(|p| p != dir);
        self.recent_projects.insert(0, dir.to_path_buf());
        self.recent_projects.truncate(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_reject_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/settings.json");
        assert_eq!(Settings::load_from(&path).unwrap(), Settings::default());
        let mut s = Settings::default();
        s.accounts.push(Account {
            name: "agency".into(),
            api_url: "https://api.digitalocean.com/v2".into(),
            email: Some("a@example.com".into()),
            acme_directory: Some(crate::tasks::tls::LETS_ENCRYPT_STAGING.into()),
            acme_ca: None,
        });
        s.remember_project(Path::new("/p/one"));
        s.remember_project(Path::new("/p/two"));
        s.remember_project(Path::new("/p/one"));
        s.save_to(&path).unwrap();
        let back = Settings::load_from(&path).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            back.recent_projects,
            [Path::new("/p/one"), Path::new("/p/two")]
        );

        std::fs::write(
            &path,
            r#"{"accounts":[{"name":"x","api_url":"u","token":"t"}]}"#,
        )
        .unwrap();
        let err = Settings::load_from(&path).unwrap_err().to_string();
        assert!(
            err.contains("accounts[0]") && err.contains("token"),
            "{err}"
        );
    }
}
