//! Pond's report protocol: how a template tells the client what it found
//! or did, in one typed format parsed in one place.
//!
//! Every rendered script defines the bash function `report` (in the
//! preamble, [`BASH_FUNCTION`]). `report KIND NAME VALUE ...` prints one
//! line on stdout:
//!
//! ```text
//! @pond:<run tag> {"kind":"live","target":"blue"}
//! ```
//!
//! The run tag is a random value the executor
//! ([`crate::ssh::session::Session`]) gives each run (`POND_REPORT_TAG`, a
//! line it sends ahead of the script). Only lines carrying this run's tag
//! are reports: whatever else the script's commands print (a hook, a body
//! the site served, a file name) cannot pass for one, however it is
//! spelt. The executor takes report lines out of the output, so progress
//! and error messages never show them, and parses each with
//! [`parse_line`] into a [`Report`]; a line it cannot read fails the run
//! (a template and this file disagree: a bug in Pond).
//!
//! Values travel as JSON strings; the fields below say how each is read
//! (numbers, `yes`/`no`, space-separated lists, empty for none). Nothing in
//! this module does I/O.

use serde::{Deserialize, Deserializer};

/// The bash function every rendered script defines (see the module doc).
/// Values are JSON-escaped; other control characters become spaces.
pub const BASH_FUNCTION: &str = r#"# Pond's report protocol (src/plan/report.rs): `report KIND [NAME VALUE]...`
# prints one line the client reads as a typed value.
report() {
    # Byte by byte (UTF-8 needs nothing more), and fast on long values.
    local LC_ALL=C line="{\"kind\":\"$1\"" value
    shift
    (($# % 2 == 0)) || { echo "report: a name without a value" >&2; return 2; }
    while (($#)); do
        value="${2//\\/\\\\}"
        value="${value//\"/\\\"}"
        value="${value//$'\n'/\\n}"
        value="${value//$'\t'/\\t}"
        value="${value//[[:cntrl:]]/ }"
        line+=",\"$1\":\"$value\""
        shift 2
    done
    printf '@pond:%s %s}\n' "${POND_REPORT_TAG:-}" "$line"
}
"#;

/// The variable the executor sets to the run's tag.
pub const TAG_VARIABLE: &str = "POND_REPORT_TAG";

/// A fresh random run tag (16 hex digits). Without the OS's randomness
/// there is none: a guessable tag would let output pass for reports.
pub fn new_tag() -> anyhow::Result<String> {
    random_hex(8)
}

/// `bytes` random bytes from the OS, as hex (run tags, lock tokens).
pub fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The line the executor sends ahead of a script to name its run.
pub fn tag_line(tag: &str) -> String {
    format!("readonly {TAG_VARIABLE}={tag}\n")
}

/// A fresh tag, and `script` as the executor sends it: named by that tag.
pub fn tagged(script: &str) -> anyhow::Result<(String, String)> {
    let tag = new_tag()?;
    let text = format!("{}{script}", tag_line(&tag));
    Ok((tag, text))
}

/// A report line that is not in the protocol's format.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("a report line could not be read ({reason}): {line}")]
pub struct ReportError {
    pub line: String,
    pub reason: String,
}

/// Where in `line` a report of the run tagged `tag` starts: at its start,
/// or after output that did not end its line (a hook's last words
/// without a newline), which stays output.
pub fn report_start(line: &str, tag: &str) -> Option<usize> {
    line.find(&format!("@pond:{tag} "))
}

/// `Some` when `line` is a report of the run tagged `tag`: the report, or
/// why it cannot be read. `None` for every other line (plain output).
pub fn parse_line(line: &str, tag: &str) -> Option<Result<Report, ReportError>> {
    let json = line
        .strip_prefix("@pond:")?
        .strip_prefix(tag)?
        .strip_prefix(' ')?;
    Some(serde_json::from_str(json).map_err(|e| ReportError {
        line: line.chars().take(300).collect(),
        reason: e.to_string(),
    }))
}

/// The first report `$pat` matches in `$reports` (a slice or `Vec` of
/// [`Report`]), as `$value`: `reported!(out.reports, Report::Live { target } => target)`.
#[macro_export]
macro_rules! reported {
    ($reports:expr, $pat:pat => $value:expr) => {
        $reports.iter().find_map(|r| match r {
            $pat => Some($value),
            _ => None,
        })
    };
}

/// Every report `$pat` matches, as `$value`, in order.
#[macro_export]
macro_rules! all_reported {
    ($reports:expr, $pat:pat => $value:expr) => {
        $reports
            .iter()
            .filter_map(|r| match r {
                $pat => Some($value),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
}

/// One line of the protocol. `kind` names the variant in kebab-case.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Report {
    // ---- common/lock
    /// The lock is ours: held by this process until the channel closes.
    Locked {
        #[serde(deserialize_with = "number")]
        pid: u32,
    },
    /// The lock is held by someone else (their record, as written).
    LockHeld {
        holder: String,
    },
    /// `--break-lock` ended this holder (their record).
    LockEnded {
        holder: String,
    },

    // ---- common/deploy-apply (named steps)
    /// A step of the template failed, and why (also on stderr).
    Failed {
        step: String,
        reason: String,
    },
    /// A step finished, in this many milliseconds.
    StepDone {
        name: String,
        #[serde(deserialize_with = "number")]
        ms: u64,
    },

    // ---- common/deploy-prepare
    /// What a deploy to the inactive colour starts from. The manifest
    /// follows as plain output (`F`/`S` lines, [`crate::tasks::manifest`]).
    Prepared {
        target: String,
        #[serde(deserialize_with = "yes_no")]
        first: bool,
        /// The release the new one is built from (empty: none).
        #[serde(deserialize_with = "optional")]
        base: Option<String>,
        /// `metadata/state.json` (empty when there is none).
        state: String,
        /// A copy of `base` was made ahead of time (common/spare).
        #[serde(deserialize_with = "yes_no")]
        spare: bool,
    },

    // ---- common/release-import
    /// The live colour, and whether a colour already runs the release.
    ImportReady {
        live: String,
        #[serde(deserialize_with = "yes_no")]
        serving: bool,
    },

    // ---- common/health
    /// The HTTP status the health path answered (`000`: no answer).
    Health {
        #[serde(deserialize_with = "number")]
        code: u16,
    },

    // ---- common/serving
    /// Whether nginx serves the domain and the previews over HTTPS.
    Schemes {
        #[serde(deserialize_with = "yes_no")]
        domain_https: bool,
        #[serde(deserialize_with = "yes_no")]
        previews_https: bool,
    },

    // ---- common/access
    /// Team keys written, and keys found outside Pond's blocks.
    AccessWritten {
        #[serde(deserialize_with = "number")]
        team: u64,
        #[serde(deserialize_with = "number")]
        outside: u64,
    },

    // ---- common/status
    /// What `current` points at (empty: nothing).
    Live {
        target: String,
    },
    /// What a colour points at (empty: nothing).
    Link {
        colour: String,
        target: String,
    },
    /// The release directories on disk.
    Releases {
        #[serde(deserialize_with = "words")]
        ids: Vec<String>,
    },
    /// `metadata/state.json`, as written.
    State {
        json: String,
    },
    /// The last line of `metadata/log.jsonl`.
    LastLog {
        json: String,
    },
    Service {
        name: String,
        #[serde(deserialize_with = "yes_no")]
        running: bool,
    },
    /// The blobs of this project's team keys in `authorized_keys`.
    AccessKeys {
        #[serde(deserialize_with = "words")]
        blobs: Vec<String>,
    },
    /// Keys outside every project's block.
    AccessOutside {
        #[serde(deserialize_with = "number")]
        count: u64,
    },
    /// Every environment the server hosts (`project/env`).
    Hosted {
        #[serde(deserialize_with = "words")]
        envs: Vec<String>,
    },
    /// The provisioning record's digest and time (both empty: no record).
    Provisioned {
        #[serde(deserialize_with = "optional")]
        digest: Option<String>,
        #[serde(deserialize_with = "optional")]
        at: Option<String>,
    },
    /// One difference from the provisioning record, as a sentence.
    Drift {
        what: String,
    },
    Process {
        name: String,
        #[serde(deserialize_with = "number")]
        instance: u32,
        state: String,
        sub_state: String,
        /// Unix time it entered its state.
        #[serde(deserialize_with = "number")]
        since: u64,
        #[serde(deserialize_with = "number")]
        restarts: u32,
        #[serde(deserialize_with = "optional")]
        release: Option<String>,
    },
    /// A process the live release declares, with its instance count.
    Declared {
        name: String,
        #[serde(deserialize_with = "number")]
        count: u32,
    },
    /// The schedule's timer and its last recorded run (empty: none).
    Schedule {
        #[serde(deserialize_with = "yes_no")]
        running: bool,
        #[serde(deserialize_with = "optional")]
        at: Option<String>,
        #[serde(deserialize_with = "optional")]
        result: Option<String>,
        #[serde(deserialize_with = "optional")]
        code: Option<String>,
        #[serde(deserialize_with = "optional")]
        status: Option<String>,
    },
    /// The last backup run on this server (common/backup).
    BackupRun(LastRun),
    BackupTimer {
        #[serde(deserialize_with = "yes_no")]
        running: bool,
        #[serde(deserialize_with = "optional")]
        every: Option<String>,
    },
    /// The environment's certificate.
    TlsCert(Certificate),
    /// Whether nginx serves the environment's HTTPS vhost.
    TlsServing {
        #[serde(deserialize_with = "yes_no")]
        serving: bool,
    },
    TlsTimer {
        #[serde(deserialize_with = "yes_no")]
        running: bool,
    },
    /// The previews' wildcard certificate, and whether nginx serves it.
    TlsPreview {
        #[serde(deserialize_with = "yes_no")]
        serving: bool,
        #[serde(deserialize_with = "number")]
        from: i64,
        #[serde(deserialize_with = "number")]
        to: i64,
        names: String,
        issuer: String,
    },
    /// The last renewal run (tls/renew).
    TlsRun(LastRun),
    /// The last failed renewal not followed by a success.
    TlsFailure(LastRun),
    /// Bytes free and in all on the root file system.
    Disk {
        #[serde(deserialize_with = "number")]
        free: u64,
        #[serde(deserialize_with = "number")]
        total: u64,
    },

    // ---- tls/renew
    TlsFailed {
        detail: String,
    },
    TlsRenewed {
        names: String,
    },
    TlsNotDue {
        names: String,
        after: String,
    },

    // ---- tls/preview-csr, tls/preview-install
    /// `renew` asked, and there is no preview certificate.
    PreviewNone,
    PreviewNotDue {
        after: String,
    },
    /// A new key was made; `csr` is its request (PEM).
    PreviewDue {
        reason: String,
        csr: String,
    },
    /// Installed, but nginx does not serve the previews' vhost yet.
    PreviewNotServed {
        reason: String,
    },

    // ---- common/secret
    Secret {
        name: String,
        set_at: String,
    },

    // ---- common/backup
    Backup {
        id: String,
        at: String,
        #[serde(deserialize_with = "number")]
        bytes: u64,
    },

    // ---- mysql/snapshot
    Snapshot {
        id: String,
        #[serde(deserialize_with = "number")]
        bytes: u64,
        /// When it was taken (unix time).
        #[serde(deserialize_with = "number")]
        mtime: u64,
    },
    Mariadb {
        #[serde(deserialize_with = "yes_no")]
        running: bool,
    },

    // ---- mysql/credentials
    /// The hash of the database password this server made and keeps.
    DbGrantHash {
        hash: String,
    },
}

/// A recorded run (a backup, a renewal): when, its result, a detail.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastRun {
    pub at: String,
    pub result: String,
    pub detail: String,
}

/// A certificate as `status` reads it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// Unix times (0: could not be read).
    #[serde(deserialize_with = "number")]
    pub from: i64,
    #[serde(deserialize_with = "number")]
    pub to: i64,
    /// Comma-separated DNS names (empty: none read).
    pub names: String,
    pub issuer: String,
}

fn number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let s = String::deserialize(d)?;
    s.trim()
        .parse()
        .map_err(|e| serde::de::Error::custom(format!("{s:?} is not a number: {e}")))
}

fn yes_no<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match String::deserialize(d)?.as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "{other:?} is neither yes nor no"
        ))),
    }
}

fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    Ok((!s.is_empty()).then_some(s))
}

fn words<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(String::deserialize(d)?
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// The reports of `script` (`report` lines, in bash) as the executor
/// would read them; for tests of the code that reads them.
#[cfg(test)]
pub(crate) fn reports_of(script: &str) -> Vec<Report> {
    tests::bash(script)
        .lines()
        .filter_map(|l| parse_line(l, "t1"))
        .map(|r| r.expect("readable"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `script` (after the function and a tag) in bash; its stdout.
    pub(super) fn bash(script: &str) -> String {
        let text = format!("{}{BASH_FUNCTION}{script}", tag_line("t1"));
        let out = std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", &text])
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn what_bash_reports_reads_back_as_typed_values() {
        let out = bash(
            "report live target blue\nreport link colour green target ''\n\
             report drift what $'a \"quoted\" back\\\\slash\\nnew line\\ttab\\x01'\n\
             report releases ids 'a b  c'\nreport disk free 12 total 34\n\
             report prepared target green first no base '' state '{\"live\":\"blue\"}' spare yes\n",
        );
        let reports: Vec<Report> = out
            .lines()
            .map(|l| parse_line(l, "t1").expect("a report").expect("readable"))
            .collect();
        assert_eq!(
            reports,
            vec![
                Report::Live {
                    target: "blue".into()
                },
                Report::Link {
                    colour: "green".into(),
                    target: String::new()
                },
                Report::Drift {
                    what: "a \"quoted\" back\\slash\nnew line\ttab ".into()
                },
                Report::Releases {
                    ids: vec!["a".into(), "b".into(), "c".into()]
                },
                Report::Disk {
                    free: 12,
                    total: 34
                },
                Report::Prepared {
                    target: "green".into(),
                    first: false,
                    base: None,
                    state: "{\"live\":\"blue\"}".into(),
                    spare: true,
                },
            ]
        );
    }

    #[test]
    fn only_lines_with_this_runs_tag_are_reports() {
        let line = r#"@pond:t1 {"kind":"live","target":"blue"}"#;
        assert!(parse_line(line, "t1").is_some());
        assert_eq!(parse_line(line, "t2"), None, "another run's tag");
        assert_eq!(parse_line(&line.replace("t1", ""), "t1"), None, "no tag");
        assert_eq!(parse_line("LIVE blue", "t1"), None);
        assert_eq!(parse_line(&format!("x{line}"), "t1"), None);
    }

    #[test]
    fn an_unreadable_report_is_an_error_naming_the_line() {
        for bad in [
            r#"@pond:t1 {"kind":"no-such-kind"}"#,
            r#"@pond:t1 {"kind":"disk","free":"12"}"#,
            r#"@pond:t1 {"kind":"disk","free":"x","total":"1"}"#,
            r#"@pond:t1 {"kind":"tls-timer","running":"maybe"}"#,
            r#"@pond:t1 {"kind":"live","target":"blue","extra":"1"}"#,
            r#"@pond:t1 {"kind":"live""#,
        ] {
            let e = parse_line(bad, "t1").unwrap().unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn a_name_without_a_value_fails_in_bash() {
        let text = format!("{}{BASH_FUNCTION}report live target", tag_line("t1"));
        let out = std::process::Command::new("bash")
            .args(["-c", &text])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
    }

    #[test]
    fn tags_are_fresh() {
        let (a, b) = (new_tag().unwrap(), new_tag().unwrap());
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
    }
}
