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
    /// The release that was live before the last swap or rollback: where
    /// `pond rollback` returns to (whatever the inactive colour holds now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// The database snapshot taken right before the last swap (its
    /// pre-swap hooks ran after it): what `pond rollback --with-data`
    /// restores. None when that swap took none; cleared by any later swap
    /// or rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColourState {
    pub release: String,
    pub tag: String,
    pub at: String,
    pub by: String,
}

impl ColourState {
    /// The history record of the release this colour runs.
    pub fn record(&self) -> ReleaseRecord {
        ReleaseRecord {
            id: self.release.clone(),
            tag: self.tag.clone(),
            at: self.at.clone(),
            by: self.by.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub id: String,
    pub tag: String,
    pub at: String,
    pub by: String,
}

impl ServerState {
    /// Parses `metadata/state.json` as a server script reported it (`{}` or
    /// nothing when new). A file that is not a state refuses: reading it as empty
    /// would make the next deploy forget the release history.
    pub fn parse(line: &str) -> anyhow::Result<ServerState> {
        let line = line.trim();
        if line.is_empty() {
            return Ok(ServerState::default());
        }
        serde_json::from_str(line).map_err(|e| {
            anyhow::anyhow!(
                "metadata/state.json is damaged ({e}); Pond will not overwrite it. Look at it on the server (metadata/log.jsonl has the history) and repair or remove it"
            )
        })
    }

    /// The release a colour points at, if recorded.
    pub fn release_of(&self, colour: Colour) -> Option<&str> {
        self.colours.get(&colour).map(|c| c.release.as_str())
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

    /// The state after making `colour` live: the release live until now
    /// becomes the one a rollback returns to.
    pub fn after_swap(&self, colour: Colour) -> ServerState {
        let was_live = self
            .live
            .and_then(|l| self.release_of(l))
            .map(str::to_string);
        let previous = match was_live {
            // A swap to the very release already live (both colours on one
            // release) changes nothing a rollback could undo.
            Some(r) if Some(r.as_str()) == self.release_of(colour) => self.previous.clone(),
            Some(r) => Some(r),
            None => self.previous.clone(),
        };
        ServerState {
            live: Some(colour),
            previous,
            snapshot: None,
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

/// Seconds since the Unix epoch, now (0 on a clock before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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
        let s3 = s2.after_swap(Colour::Green);
        assert_eq!(s3.live, Some(Colour::Green));
        assert_eq!(s3.previous.as_deref(), Some("r1"), "rollback returns to r1");
        assert_eq!(ServerState::parse(&s2.to_json()).unwrap(), s2);
        assert_eq!(ServerState::parse("{}").unwrap(), ServerState::default());
        assert_eq!(ServerState::parse("").unwrap(), ServerState::default());
    }

    #[test]
    fn the_previous_live_release_survives_a_deploy_into_its_colour() {
        // v1 live, v2 deployed and swapped in, v3 deployed into the colour
        // that held v1: the rollback target stays v1.
        let s = ServerState::default()
            .after_deploy(Colour::Blue, true, rec("v1"))
            .after_deploy(Colour::Green, false, rec("v2"))
            .after_swap(Colour::Green)
            .after_deploy(Colour::Blue, false, rec("v3"));
        assert_eq!(s.previous.as_deref(), Some("v1"));
        assert_eq!(s.release_of(Colour::Blue), Some("v3"));
        // Swapping a first deploy's twin colour records nothing to undo.
        let first = ServerState::default().after_deploy(Colour::Blue, true, rec("v1"));
        assert_eq!(first.after_swap(Colour::Green).previous, None);
    }

    #[test]
    fn a_damaged_state_file_is_refused_not_read_as_empty() {
        let e = ServerState::parse("{\"live\": \"blu").unwrap_err();
        assert!(format!("{e:#}").contains("damaged"), "{e:#}");
        assert!(ServerState::parse("[1, 2]").is_err());
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
