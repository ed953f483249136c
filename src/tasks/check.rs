//! Desired against actual, per server (`pond check`, the status panel):
//! what provisioning recorded on the server compared with what is there
//! now and with what provisioning would apply today (see
//! [`super::provision::setup_digest`]), plus the team keys compared with
//! pond.json. Reading only; `pond check --fix` re-runs provisioning, which
//! is idempotent.

use super::access;
use super::operate::ServerStatus;
use crate::config::ProjectFile;

/// Every difference a server reports, in words; empty: in step. `own` is
/// the viewing user's public key line (a sync by them adds it).
pub fn differences(file: &ProjectFile, status: &ServerStatus, own: Option<&str>) -> Vec<String> {
    let mut found = status.drift.clone().unwrap_or_default();
    if let Some(keys) = &status.access_keys {
        let check = access::check(file, own, keys, status.access_outside);
        if !check.in_step() {
            found.push(format!("team keys: {}", check.describe()));
        }
    }
    found
}

/// One line for a server: "in step", or how many differences.
pub fn summary(differences: &[String]) -> String {
    match differences.len() {
        0 => "in step".to_string(),
        1 => "1 difference".to_string(),
        n => format!("{n} differences"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Stack, TeamKey};

    #[test]
    fn a_changed_file_and_a_missing_team_key_are_both_differences() {
        let mut file = ProjectFile::starter("shop", Stack::Php);
        file.team_keys.push(TeamKey {
            name: "bob".into(),
            public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBob bob@laptop".into(),
        });
        let mut status = ServerStatus {
            drift: Some(vec!["/etc/nginx/sites-available/pond-shop-live.conf was changed since it was provisioned".into()]),
            access_keys: Some(vec![]),
            ..Default::default()
        };
        let found = differences(&file, &status, None);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[1].starts_with("team keys: missing bob"), "{found:?}");
        assert_eq!(summary(&found), "2 differences");
        status.drift = Some(vec![]);
        status.access_keys = Some(vec!["AAAAC3NzaC1lZDI1NTE5AAAAIBob".into()]);
        assert_eq!(summary(&differences(&file, &status, None)), "in step");
    }
}
