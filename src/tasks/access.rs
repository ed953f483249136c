//! Team access kept in step: every server of the project gets the team's
//! public keys from pond.json in the project's own Pond-managed block of
//! its login user's `authorized_keys` (`common/access`; projects sharing a
//! server each keep a block); a key removed from pond.json leaves the
//! block, other blocks and lines outside them stay, and the key of whoever syncs is never
//! taken away (added to the block only where it is missing altogether).
//! Runs on provision and deploy and with `pond access sync`; [`check`]
//! compares what `common/status` reports with pond.json.

use anyhow::Context;

use super::Connected;
use super::execute::Step;
use crate::config::ProjectFile;
use crate::plan::report::Report;
use crate::ssh::{Sink, Stream};

/// The key blob (base64, the second field) of an OpenSSH public key line.
pub fn blob(line: &str) -> Option<&str> {
    line.split_whitespace().nth(1)
}

/// The team's key lines, as the block holds them.
pub fn key_lines(file: &ProjectFile) -> String {
    file.team_keys
        .iter()
        .map(|k| k.public_key.trim().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The step writing the block, keeping `own_key` (the key of whoever
/// runs it) on the server.
pub fn step(file: &ProjectFile, own_key: &str) -> anyhow::Result<Step> {
    Step::new(
        "Team keys",
        "common/access",
        &[
            ("PROJECT", &file.name),
            ("KEYS", &key_lines(file)),
            ("OWN_KEY", own_key),
        ],
    )
}

/// Writes the block on every given server, in parallel.
pub async fn sync<'a>(
    file: &ProjectFile,
    servers: impl IntoIterator<Item = &'a Connected>,
    sink: &Sink,
) -> anyhow::Result<()> {
    let runs = servers.into_iter().map(|c| async move {
        let name = &c.server.endpoint.name;
        let own = &c.session.client_key;
        let op = step(file, own)?.on(&c.server.endpoint);
        let out = super::execute::run_ok(c, &op, &crate::ssh::session::quiet())
            .await
            .with_context(|| format!("writing the team's keys on {name}"))?;
        if let Some((team, outside)) = crate::reported!(out.reports, Report::AccessWritten { team, outside } => (team, outside)) {
            sink(
                name,
                Stream::Step,
                &format!("team access: {team} team keys in step; {outside} other key(s) outside Pond's blocks"),
            );
        }
        if !file.team_keys.iter().any(|k| blob(&k.public_key) == blob(own)) {
            sink(
                name,
                Stream::Step,
                "your key is not in pond.json's team_keys: add it with `pond team add` so the team's servers keep it",
            );
        }
        anyhow::Ok(())
    });
    futures::future::join_all(runs)
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<()>>>()?;
    Ok(())
}

/// How a server's keys compare with pond.json.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessCheck {
    /// Team members whose key the server's block lacks.
    pub missing: Vec<String>,
    /// Keys in the block that are neither the team's nor `own`.
    pub unknown: usize,
    /// Keys outside the block (added by hand, or by DigitalOcean before the
    /// first sync): the server accepts them, Pond leaves them alone.
    pub outside: usize,
}

impl AccessCheck {
    pub fn in_step(&self) -> bool {
        self.missing.is_empty() && self.unknown == 0
    }

    /// "in step", or what differs; keys outside the block are counted.
    pub fn describe(&self) -> String {
        let outside = match self.outside {
            0 => String::new(),
            n => format!(" ({n} other key(s) outside Pond's block)"),
        };
        if self.in_step() {
            return format!("in step{outside}");
        }
        let mut parts = vec![];
        if !self.missing.is_empty() {
            parts.push(format!("missing {}", self.missing.join(", ")));
        }
        if self.unknown > 0 {
            parts.push(format!("{} key(s) not in pond.json", self.unknown));
        }
        format!("{} (run `pond access sync`){outside}", parts.join("; "))
    }
}

/// Compares the key blobs in a server's block with pond.json's team (and
/// the viewing user's own key, which a sync by them may add).
pub fn check(
    file: &ProjectFile,
    own: Option<&str>,
    present: &[String],
    outside: usize,
) -> AccessCheck {
    let missing = file
        .team_keys
        .iter()
        .filter(|k| !blob(&k.public_key).is_some_and(|b| present.iter().any(|p| p == b)))
        .map(|k| k.name.clone())
        .collect();
    let unknown = present
        .iter()
        .filter(|p| {
            !file
                .team_keys
                .iter()
                .any(|k| blob(&k.public_key) == Some(p.as_str()))
                && own.and_then(blob) != Some(p.as_str())
        })
        .count();
    AccessCheck {
        missing,
        unknown,
        outside,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TeamKey;

    fn file(keys: &[(&str, &str)]) -> ProjectFile {
        let mut f = ProjectFile::starter("acme", crate::config::Stack::Php);
        f.team_keys = keys
            .iter()
            .map(|(name, key)| TeamKey {
                name: name.to_string(),
                public_key: key.to_string(),
            })
            .collect();
        f
    }

    #[test]
    fn the_block_holds_the_team() {
        let f = file(&[
            ("ana", "ssh-ed25519 AAAAana ana@x"),
            ("bo", "ssh-ed25519 AAAAbo bo@y"),
        ]);
        assert_eq!(
            key_lines(&f),
            "ssh-ed25519 AAAAana ana@x\nssh-ed25519 AAAAbo bo@y"
        );
    }

    #[test]
    fn a_server_is_in_step_when_its_block_has_the_team_and_nobody_else() {
        let f = file(&[("ana", "ssh-ed25519 AAAAana ana@x")]);
        let own = Some("ssh-ed25519 AAAAme me@z");
        let ok = check(&f, own, &["AAAAana".into(), "AAAAme".into()], 2);
        assert!(ok.in_step());
        assert_eq!(
            ok.describe(),
            "in step (2 other key(s) outside Pond's block)"
        );
        let c = check(&f, own, &["AAAAold".into()], 0);
        assert_eq!(
            c,
            AccessCheck {
                missing: vec!["ana".into()],
                unknown: 1,
                outside: 0
            }
        );
        assert_eq!(
            c.describe(),
            "missing ana; 1 key(s) not in pond.json (run `pond access sync`)"
        );
    }
}
