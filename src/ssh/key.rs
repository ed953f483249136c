//! The user's SSH identity: an ed25519 key pair Pond generates once into the
//! user's config dir (private key 0600, never sent anywhere), an existing
//! OpenSSH key file the user points Pond at, or a key held by their
//! ssh-agent (Pond then never sees the private key at all).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use russh::keys::ssh_key::{LineEnding, private::Ed25519Keypair};
use russh::keys::{HashAlg, PrivateKey, PublicKey};

pub use crate::settings::config_dir;

/// Where Pond keeps the user's own key pair.
pub fn default_key_path() -> anyhow::Result<PathBuf> {
    Ok(config_dir()?.join("id_ed25519"))
}

/// Where the private half lives.
#[derive(Clone)]
pub enum Secret {
    /// Loaded from a key file.
    File(Arc<PrivateKey>),
    /// Held by the ssh-agent at `$SSH_AUTH_SOCK`, which signs for Pond.
    Agent,
}

/// The user's key and the facts shown to the user.
#[derive(Clone)]
pub struct Identity {
    /// The key file, or `ssh-agent`.
    pub path: PathBuf,
    pub public: PublicKey,
    pub secret: Secret,
}

impl Identity {
    fn from_file(path: &Path, key: PrivateKey) -> Identity {
        Identity {
            path: path.to_path_buf(),
            public: key.public_key().clone(),
            secret: Secret::File(Arc::new(key)),
        }
    }

    /// `ssh-ed25519 AAAA... pond@host` — what goes into authorized_keys.
    pub fn public_line(&self) -> String {
        self.public.to_openssh().unwrap_or_default()
    }

    /// SHA256 fingerprint, as `ssh-keygen -lf` prints it.
    pub fn fingerprint(&self) -> String {
        self.public.fingerprint(HashAlg::Sha256).to_string()
    }
}

/// The first key of the user's ssh-agent (an ed25519 one if there is one).
pub async fn from_agent() -> anyhow::Result<Identity> {
    let mut agent = crate::platform::connect_agent().await?;
    let keys: Vec<PublicKey> = agent
        .request_identities()
        .await
        .map_err(|e| anyhow::anyhow!("asking the ssh-agent for its keys: {e}"))?
        .into_iter()
        .filter_map(|id| match id {
            russh::keys::agent::AgentIdentity::PublicKey { key, .. } => Some(key),
            _ => None,
        })
        .collect();
    let public = keys
        .iter()
        .find(|k| k.algorithm() == russh::keys::Algorithm::Ed25519)
        .or(keys.first())
        .cloned()
        .context("the ssh-agent holds no keys; add one with ssh-add")?;
    Ok(Identity {
        path: PathBuf::from("ssh-agent"),
        public,
        secret: Secret::Agent,
    })
}

/// Loads the key at `path`, or generates a new ed25519 pair there when it
/// does not exist (private 0600 in a 0700 dir, public beside it).
pub fn load_or_generate(path: &Path) -> anyhow::Result<(Identity, bool)> {
    if path.exists() {
        return Ok((load(path)?, false));
    }
    let dir = path.parent().context("key path has no directory")?;
    crate::platform::create_private_dir(dir)?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    key.set_comment(format!(
        "pond:{}@{}",
        crate::platform::user_name(),
        crate::platform::host_name()
    ));
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding the key: {e}"))?;
    let mut f = crate::platform::create_private_file(path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| anyhow::anyhow!("encoding the key: {e}"))?;
    std::fs::write(path.with_extension("pub"), format!("{public}\n"))?;
    Ok((Identity::from_file(path, key), true))
}

/// Loads an existing OpenSSH private key (unencrypted).
pub fn load(path: &Path) -> anyhow::Result<Identity> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if let Some(mode) = crate::platform::others_can_read(&meta) {
        bail!(
            "{} is readable by other users (mode {mode:o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let key = russh::keys::load_secret_key(path, None).with_context(|| {
        format!(
            "{} is not an unencrypted OpenSSH private key",
            path.display()
        )
    })?;
    Ok(Identity::from_file(path, key))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn generates_once_with_private_permissions_and_reloads_the_same_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/id_ed25519");
        let (a, created) = load_or_generate(&path).unwrap();
        assert!(created);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        let (b, created) = load_or_generate(&path).unwrap();
        assert!(!created);
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert!(a.public_line().starts_with("ssh-ed25519 AAAA"));
        let on_disk = std::fs::read_to_string(path.with_extension("pub")).unwrap();
        assert_eq!(on_disk.trim(), a.public_line());
        // ssh-keygen agrees on the fingerprint.
        let out = std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&path)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains(&a.fingerprint()));
    }

    #[test]
    fn refuses_a_key_others_can_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        load_or_generate(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load(&path).err().unwrap().to_string();
        assert!(err.contains("readable by other users"), "{err}");
    }
}
