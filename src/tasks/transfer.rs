//! Data brought along to an environment's first deploy: a database (a SQL
//! dump file on this computer, or dumped live on the old server it lives on
//! over SSH) streamed zstd-compressed into the environment's database, and
//! a directory of attachments streamed into its first shared path. Nothing
//! is written to disk on the way.

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::{Connected, env_root, execute};
use crate::config::{Database, DropletRole, ProjectFile};
use crate::plan::Operation;
use crate::ssh::{Endpoint, HostKeyCheck, Identity, Session, Sink, Stream};

/// Data to load on the first deploy: a SQL dump (a file, or a database on
/// another server) and a directory of files.
#[derive(Debug, Clone, Default)]
pub struct Transfer {
    pub db_dump: Option<PathBuf>,
    pub db_from: Option<DbSource>,
    pub attachments: Option<PathBuf>,
}

impl Transfer {
    pub fn has_database(&self) -> bool {
        self.db_dump.is_some() || self.db_from.is_some()
    }

    pub fn is_empty(&self) -> bool {
        !self.has_database() && self.attachments.is_none()
    }
}

/// A database on a server Pond reaches over SSH with the user's key
/// (`ssh://USER@HOST[:PORT]/DATABASE[#SHA256:HOSTKEY]`): dumped there with
/// that server's own credentials, streamed straight into the new database.
/// The server's host key is checked: the one given after `#`, else the one
/// pond.json pins for a droplet at that address; Pond never trusts an
/// unknown key on first sight here (the dump is the site's data).
#[derive(Debug, Clone, PartialEq)]
pub struct DbSource {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub host_key: Option<String>,
}

impl DbSource {
    /// Parses `ssh://USER@HOST[:PORT]/DATABASE`; the error says which part
    /// is wrong.
    pub fn parse(text: &str) -> Result<DbSource, String> {
        use crate::config::grammar;
        let expected = "expected ssh://USER@HOST[:PORT]/DATABASE, like ssh://root@203.0.113.7/shop";
        let rest = text
            .strip_prefix("ssh://")
            .ok_or_else(|| format!("{text:?}: {expected}"))?;
        let (authority, database) = rest
            .split_once('/')
            .ok_or_else(|| format!("{text:?}: no database; {expected}"))?;
        let (database, host_key) = match database.split_once('#') {
            Some((db, key)) => {
                let b64 = key.strip_prefix("SHA256:").unwrap_or("");
                if b64.is_empty()
                    || !b64
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
                {
                    return Err(format!(
                        "{text:?}: host key {key:?} is not a fingerprint like SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"
                    ));
                }
                (db, Some(key.to_string()))
            }
            None => (database, None),
        };
        let (user, host_port) = authority
            .split_once('@')
            .ok_or_else(|| format!("{text:?}: no user; {expected}"))?;
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("{text:?}: port {p:?} is not a port number"))?,
            ),
            None => (host_port, 22),
        };
        grammar::unix_user(user).map_err(|e| format!("{text:?}: user {user:?}: {e}"))?;
        grammar::db_host(host).map_err(|e| format!("{text:?}: host {host:?}: {e}"))?;
        grammar::db_name(database).map_err(|e| format!("{text:?}: database {database:?}: {e}"))?;
        Ok(DbSource {
            user: user.to_string(),
            host: host.to_string(),
            port,
            database: database.to_string(),
            host_key,
        })
    }

    /// How it is shown: `root@203.0.113.7/shop`.
    pub fn label(&self) -> String {
        format!("{}@{}/{}", self.user, self.host, self.database)
    }
}

/// Streams a zstd-compressed copy of local data (a file, or a directory as
/// tar) into a remote script's stdin; returns the script's output.
async fn stream_in(
    c: &Connected,
    op: &Operation,
    source: PathBuf,
    as_tar: bool,
    sink: &Sink,
) -> anyhow::Result<String> {
    let (reader, writer) = tokio::io::duplex(1 << 20);
    let producer = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let writer = tokio_util::io::SyncIoBridge::new(writer);
        let mut encoder = zstd::Encoder::new(writer, 3)?;
        if as_tar {
            let mut tar = tar::Builder::new(&mut encoder);
            tar.append_dir_all(".", &source)
                .with_context(|| format!("reading {}", source.display()))?;
            tar.finish()?;
        } else {
            let mut file = std::fs::File::open(&source)
                .with_context(|| format!("reading {}", source.display()))?;
            std::io::copy(&mut file, &mut encoder)?;
        }
        encoder.finish()?;
        Ok(())
    });
    let outcome = execute::run(c, op, Some(Box::new(reader)), sink).await?;
    let produced = producer.await?;
    if outcome.exit_code != 0 {
        bail!(
            "{} failed on {}: {}",
            op.description,
            c.server.endpoint.name,
            crate::ssh::session::last_lines(&outcome.stderr, 6)
        );
    }
    produced?;
    Ok(outcome.stdout)
}

/// Loads a database dump and attachments into an environment (meant for
/// its first deploy): the dump into its database, the files into its first
/// shared path.
pub async fn transfer(
    file: &ProjectFile,
    env_name: &str,
    connected: &[Connected],
    what: &Transfer,
    identity: &Identity,
    sink: &Sink,
) -> anyhow::Result<()> {
    let (_, env) = super::find_env(file, env_name)?;
    let root = env_root(&file.name, env_name);
    for c in connected {
        let is_web = c.server.role == DropletRole::Web;
        let db = match &env.database {
            Database::SameDroplet { name, .. } if is_web => Some(name),
            Database::OtherDroplet { name, .. } if !is_web => Some(name),
            _ => None,
        };
        if let Some(db) = db {
            let import = execute::on(
                c,
                format!("loading into database {db}"),
                "mysql/import",
                &[("DB_NAME", db)],
            )?;
            if let Some(dump) = &what.db_dump {
                (sink)(
                    &c.server.endpoint.name,
                    Stream::Step,
                    &format!("loading {} into database {db}", dump.display()),
                );
                stream_in(c, &import, dump.clone(), false, sink).await?;
            }
            if let Some(source) = &what.db_from {
                let pin = source_host_key(file, source)?;
                copy_database(c, source, &pin, &import, identity, sink).await?;
            }
        }
        if let (Some(dir), true) = (&what.attachments, is_web) {
            let shared = file.shared_paths.first().with_context(|| {
                "attachments need a shared path to go to; add one to shared_paths in pond.json (e.g. \"storage\")"
            })?;
            (sink)(
                &c.server.endpoint.name,
                Stream::Step,
                &format!("copying {} into shared/{shared}", dir.display()),
            );
            stream_in(
                c,
                &execute::on(
                    c,
                    format!("copying attachments into shared/{shared}"),
                    "common/attachments",
                    &[
                        ("ROOT", &root),
                        ("SHARED", shared),
                        ("SITE_USER", &super::EnvUsers::of(&file.name, env_name).site),
                    ],
                )?,
                dir.clone(),
                true,
                sink,
            )
            .await?;
        }
    }
    if what.has_database() && matches!(env.database, Database::None | Database::External { .. }) {
        bail!(
            "environment {env_name} has no database Pond manages, so the database dump has nowhere to go"
        );
    }
    Ok(())
}

/// The host key the source server must present: given in the source, or
/// pinned in pond.json for a droplet at that address.
fn source_host_key(file: &ProjectFile, source: &DbSource) -> anyhow::Result<String> {
    if let Some(key) = &source.host_key {
        return Ok(key.clone());
    }
    file.environments
        .iter()
        .flat_map(|e| &e.droplets)
        .find(|d| d.address.as_deref() == Some(source.host.as_str()))
        .and_then(|d| d.host_key.clone())
        .with_context(|| {
            format!(
                "Pond does not know the SSH host key of {} (no droplet in pond.json has that address), so it will not copy the database from it unchecked. Read its fingerprint where you trust the answer (your provider's console, or `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on it) and give it as ssh://{}@{}/{}#SHA256:…",
                source.host, source.user, source.host, source.database
            )
        })
}

/// Dumps `source` on its own server and streams it into `import` on `c`,
/// through this computer, without a file anywhere.
async fn copy_database(
    c: &Connected,
    source: &DbSource,
    pin: &str,
    import: &Operation,
    identity: &Identity,
    sink: &Sink,
) -> anyhow::Result<()> {
    let name = &c.server.endpoint.name;
    let endpoint = Endpoint {
        name: source.host.clone(),
        address: source.host.clone(),
        port: source.port,
        user: source.user.clone(),
    };
    let session = Session::connect(&endpoint, identity, HostKeyCheck::Pinned(pin.to_string()))
        .await
        .with_context(|| {
            format!(
                "connecting to {} to dump the database (Pond uses your SSH key; it must be in {}'s authorized_keys there)",
                source.label(),
                source.user
            )
        })?;
    sink(
        name,
        Stream::Step,
        &format!(
            "copying database {} (host key {}) into this server's database",
            source.label(),
            session.host_key
        ),
    );
    let export = execute::script(
        format!("dumping {}", source.label()),
        &endpoint,
        "mysql/export",
        &[("DB_NAME", &source.database)],
    )?;
    let (from_source, to_target) = tokio::io::duplex(1 << 20);
    let quiet = crate::ssh::session::quiet();
    let (exported, imported) = tokio::join!(
        execute::run_piped_on(&session, &export, Box::new(from_source), &quiet),
        execute::run(c, import, Some(Box::new(to_target)), sink)
    );
    session.close().await;
    let exported = exported?;
    if exported.exit_code != 0 {
        bail!(
            "dumping {} failed (exit {}): {}",
            source.label(),
            exported.exit_code,
            crate::ssh::session::last_lines(&exported.stderr, 6)
        );
    }
    let imported = imported?;
    if imported.exit_code != 0 {
        bail!(
            "loading the dump of {} on {name} failed: {}",
            source.label(),
            crate::ssh::session::last_lines(&imported.stderr, 6)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_server_is_only_reached_with_a_known_host_key() {
        let file: ProjectFile =
            serde_json::from_str(include_str!("../../examples/acme-shop/pond.json")).unwrap();
        let pinned = DbSource::parse("ssh://root@203.0.113.10/shop").unwrap();
        assert_eq!(
            source_host_key(&file, &pinned).unwrap(),
            "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
            "the droplet's pin from pond.json"
        );
        let unknown = DbSource::parse("ssh://root@203.0.113.99/shop").unwrap();
        let e = source_host_key(&file, &unknown).unwrap_err().to_string();
        assert!(
            e.contains("does not know the SSH host key of 203.0.113.99"),
            "{e}"
        );
        let given = DbSource::parse("ssh://root@203.0.113.99/shop#SHA256:abc+/=").unwrap();
        assert_eq!(source_host_key(&file, &given).unwrap(), "SHA256:abc+/=");
    }

    #[test]
    fn database_sources_are_parsed_and_bad_parts_named() {
        assert_eq!(
            DbSource::parse("ssh://root@203.0.113.7/shop"),
            Ok(DbSource {
                user: "root".into(),
                host: "203.0.113.7".into(),
                port: 22,
                database: "shop".into(),
                host_key: None,
            })
        );
        assert_eq!(
            DbSource::parse(
                "ssh://root@203.0.113.7/shop#SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"
            )
            .unwrap()
            .host_key
            .as_deref(),
            Some("SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8")
        );
        assert_eq!(
            DbSource::parse("ssh://deploy@old.example.com:2222/wp_site")
                .unwrap()
                .port,
            2222
        );
        for (bad, says) in [
            ("mysql://root@h/db", "expected ssh://"),
            ("ssh://root@h", "no database"),
            ("ssh://h/db", "no user"),
            ("ssh://root@h:0/db", "not a port number"),
            ("ssh://root@h;id/db", "host"),
            ("ssh://root@h/db;drop", "database"),
            ("ssh://$(id)@h/db", "user"),
            ("ssh://root@h/db#MD5:aa", "not a fingerprint"),
            ("ssh://root@h/db#SHA256:a;b", "not a fingerprint"),
        ] {
            let e = DbSource::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
