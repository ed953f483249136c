//! What a server records about an environment (`metadata/state.json` and
//! `metadata/log.jsonl`): the server's own truth, read and written by tasks
//! while they hold the environment's lock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Colour;

/// `metadata/state.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerState {
    /// The colour `current` points at.
    #[serde(default)]
    pub live: Option<Colour>,
    /// What each colour runs.
    #[serde(default)]
    pub colours: BTreeMap<Colour, ColourState>,
    /// Releases deployed here, newest last (trimmed to 50).
    #[serde(default)]
    pub releases: Vec<ReleaseRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColourState {
    pub release: String,
    pub tag: String,
    pub at: String,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub id: String,
    pub tag: String,
    pub at: String,
    pub by: String,
}

impl ServerState {
    /// Parses the one-line JSON a server script printed (`{}` when new).
    pub fn parse(line: &str) -> ServerState {
        serde_json::from_str(line.trim()).unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("state serializes")
    }

    /// The state after deploying `release` to `target` (both colours and
    /// blue live on a first deploy).
    pub fn after_deploy(&self, target: Colour, first: bool, record: ReleaseRecord) -> ServerState {
        let mut next = self.clone();
        let colour = ColourState {
            release: record.id.clone(),
            tag: record.tag.clone(),
            at: record.at.clone(),
            by: record.by.clone(),
        };
        next.colours.insert(target, colour.clone());
        if first {
            next.colours.insert(target.other(), colour);
            next.live = Some(Colour::Blue);
        }
        next.releases.push(record);
        let excess = next.releases.len().saturating_sub(50);
        next.releases.drain(..excess);
        next
    }

    /// The state after making `colour` live.
    pub fn after_swap(&self, colour: Colour) -> ServerState {
        ServerState {
            live: Some(colour),
            ..self.clone()
        }
    }
}

/// One line of `metadata/log.jsonl`.
pub fn log_line(op: &str, by: &str, fields: serde_json::Value) -> String {
    let mut line = serde_json::json!({"at": now(), "by": by, "op": op});
    if let (Some(obj), serde_json::Value::Object(more)) = (line.as_object_mut(), fields) {
        obj.extend(more);
    }
    line.to_string()
}

/// UTC now as `2026-11-25T20:30:00Z`.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .expect("time formats")
}

/// A release id: UTC time and tag, `20261125T203000Z-v2`.
pub fn release_id(tag: &str) -> String {
    let t = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .expect("time formats");
    format!("{t}-{tag}")
}

/// A build tag: 1-40 of `A-Za-z0-9._-`.
pub fn check_tag(tag: &str) -> anyhow::Result<()> {
    if !tag.is_empty()
        && tag.len() <= 40
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        Ok(())
    } else {
        anyhow::bail!(
            "build tag {tag:?} must be 1-40 characters of A-Z, a-z, 0-9, '.', '_' and '-'"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str) -> ReleaseRecord {
        ReleaseRecord {
            id: id.into(),
            tag: "v".into(),
            at: "t".into(),
            by: "me".into(),
        }
    }

    #[test]
    fn first_deploy_fills_both_colours_and_makes_blue_live() {
        let s = ServerState::default().after_deploy(Colour::Blue, true, rec("r1"));
        assert_eq!(s.live, Some(Colour::Blue));
        assert_eq!(s.colours[&Colour::Green].release, "r1");
        let s2 = s.after_deploy(Colour::Green, false, rec("r2"));
        assert_eq!(s2.colours[&Colour::Blue].release, "r1");
        assert_eq!(s2.colours[&Colour::Green].release, "r2");
        assert_eq!(s2.after_swap(Colour::Green).live, Some(Colour::Green));
        assert_eq!(ServerState::parse(&s2.to_json()), s2);
        assert_eq!(ServerState::parse("{}"), ServerState::default());
    }

    #[test]
    fn tags_are_checked() {
        assert!(check_tag("v1.2_rc-3").is_ok());
        assert!(check_tag("").is_err());
        assert!(check_tag("a b").is_err());
        assert!(check_tag("$(x)").is_err());
        assert!(release_id("v2").ends_with("Z-v2"));
    }
}
