//! Plans are data: what Pond will do, as values, before anything runs.
//!
//! An [`Operation`] is one thing on one target: a rendered bash [`Script`]
//! for a droplet, or an [`ApiRequest`] for the DigitalOcean API. A [`Plan`]
//! is an ordered list of operations. A deploy builds one per server
//! (`tasks::deploy`); provisioning and the servers' TLS set-up build
//! theirs from steps bound to each server (`tasks::execute::Step`); swap,
//! rollback, unbind and destroy build theirs too; scale and create plan
//! the DigitalOcean requests known before they start (`tasks::scale`,
//! `NewServer::droplet_requests`), DNS its records from what the zone
//! holds (`tasks::dns`). Dry runs show these plans, and the one executor
//! (`tasks::execute`: scripts on a droplet's session, requests through
//! the API client) runs the very same operations; every other task's
//! scripts are operations run by it too. `pond plan` shows a template's.
//! Nothing in this module does I/O, so unit tests inspect plans as
//! values, and the CLI and GUI show a plan before it runs.

pub mod layout;
pub mod quote;
pub mod report;
pub mod template;

use std::fmt;

pub use quote::{NulInValue, quote};
pub use template::{Script, Template, TemplateError};

/// Where an operation runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A droplet reached over SSH, by name and (once known) address.
    Droplet {
        name: String,
        address: Option<String>,
    },
    /// The DigitalOcean API of the named account.
    DigitalOcean { account: String },
    /// Not bound to a machine yet (`pond plan` shows a template on its own).
    Unbound,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Droplet {
                name,
                address: Some(a),
            } => write!(f, "droplet {name} ({a})"),
            Target::Droplet {
                name,
                address: None,
            } => write!(f, "droplet {name}"),
            Target::DigitalOcean { account } => write!(f, "DigitalOcean account {account}"),
            Target::Unbound => f.write_str("no target (plan only)"),
        }
    }
}

/// HTTP method of an API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

/// A DigitalOcean API request as a value (a destroy's requests; sent by
/// `tasks::execute::api`). The token is never part of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApiRequest {
    pub method: Method,
    /// Path under the API base, e.g. `/v2/droplets`.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// What an operation does.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Run a rendered script with `bash -s` as the given user.
    Script { user: String, script: Script },
    /// Send one API request.
    Api(ApiRequest),
}

/// One thing on one target.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Operation {
    /// A short sentence for progress lists ("Install nginx and PHP-FPM").
    pub description: String,
    pub target: Target,
    pub action: Action,
}

/// An ordered list of operations.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Plan {
    pub title: String,
    pub operations: Vec<Operation>,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.operations.len();
        let s = if n == 1 { "" } else { "s" };
        writeln!(f, "# Plan: {} ({n} operation{s})", one_line(&self.title))?;
        for (i, op) in self.operations.iter().enumerate() {
            writeln!(
                f,
                "\n# [{}] {} — on {}",
                i + 1,
                one_line(&op.description),
                one_line(&op.target.to_string())
            )?;
            match &op.action {
                Action::Script { user, script } => {
                    writeln!(f, "# as {user}, via bash -s:")?;
                    f.write_str(&script.text)?;
                    if !script.text.ends_with('\n') {
                        writeln!(f)?;
                    }
                }
                Action::Api(req) => {
                    writeln!(f, "{:?} {}", req.method, one_line(&req.path))?;
                    if let Some(body) = &req.body {
                        writeln!(f, "{body}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Plan {
    /// One line per operation, its script's inputs shortened (a value of
    /// several lines as their count, a long one cut), an API request with
    /// its body: what `--dry-run` prints; [`Plan`]'s `Display` gives the
    /// scripts in full.
    pub fn outline(&self) -> Vec<String> {
        self.operations
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let what = match &op.action {
                    Action::Script { user, script } => {
                        let inputs: Vec<String> = script
                            .inputs
                            .iter()
                            .filter(|(_, v)| !v.is_empty())
                            .map(|(k, v)| format!("{k}={}", shortened(v)))
                            .collect();
                        format!("as {user}: {} {}", script.template, inputs.join(" "))
                    }
                    Action::Api(req) => match &req.body {
                        Some(body) => format!("{:?} {} {body}", req.method, req.path),
                        None => format!("{:?} {}", req.method, req.path),
                    },
                };
                one_line(&format!(
                    "[{}] {} — on {}; {}",
                    i + 1,
                    op.description,
                    op.target,
                    what.trim_end()
                ))
            })
            .collect()
    }
}

/// `text` kept to one printable line: a control character (a line break,
/// a terminal escape) from a name or id becomes `?`, so a printed plan's
/// comment lines stay comments and a terminal shows what is there.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A value for one line: `(N lines)` for several, cut after 60 characters.
fn shortened(value: &str) -> String {
    let lines = value.lines().count();
    if lines > 1 {
        return format!("({lines} lines)");
    }
    let cut: String = value.chars().take(60).collect();
    let shown = if cut.len() < value.len() {
        format!("{cut}…")
    } else {
        cut
    };
    let plain = shown
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/:@,+=…".contains(c));
    if plain {
        shown
    } else {
        quote::quote(&shown).unwrap_or(shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_plan_prints_its_scripts_and_requests() {
        let script = Template::builtin("common/hello")
            .unwrap()
            .render(&BTreeMap::from([("GREETING".into(), "hi 'there'".into())]))
            .unwrap();
        let plan = Plan {
            title: "example".into(),
            operations: vec![
                Operation {
                    description: "Create droplet".into(),
                    target: Target::DigitalOcean {
                        account: "agency".into(),
                    },
                    action: Action::Api(ApiRequest {
                        method: Method::Post,
                        path: "/v2/droplets".into(),
                        body: Some(serde_json::json!({"name": "web-1"})),
                    }),
                },
                Operation {
                    description: "Say hello".into(),
                    target: Target::Droplet {
                        name: "web-1".into(),
                        address: Some("198.18.0.2".into()),
                    },
                    action: Action::Script {
                        user: "root".into(),
                        script,
                    },
                },
            ],
        };
        let text = plan.to_string();
        assert!(text.starts_with("# Plan: example (2 operations)\n"));
        assert!(text.contains("# [1] Create droplet — on DigitalOcean account agency\nPost /v2/droplets\n{\"name\":\"web-1\"}\n"));
        assert!(text.contains("# [2] Say hello — on droplet web-1 (198.18.0.2)\n# as root, via bash -s:\n#!/usr/bin/env bash\n# pond: template common/hello\nreadonly GREETING='hi '\\''there'\\'''\n"));
    }

    #[test]
    fn a_name_with_a_line_break_stays_inside_its_comment() {
        let script = Template::builtin("common/hello")
            .unwrap()
            .render(&BTreeMap::from([("GREETING".into(), "hi".into())]))
            .unwrap();
        let plan = Plan {
            title: "swap\nrm -rf /".into(),
            operations: vec![Operation {
                description: "Make green live (release x\ntouch /pwned)\u{1b}[2J".into(),
                target: Target::Unbound,
                action: Action::Script {
                    user: "root".into(),
                    script,
                },
            }],
        };
        let text = plan.to_string();
        assert!(
            text.starts_with("# Plan: swap?rm -rf / (1 operation)\n"),
            "{text}"
        );
        assert!(
            text.contains("\n# [1] Make green live (release x?touch /pwned)?[2J — on "),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'));
        assert!(plan.outline()[0].starts_with("[1] Make green live (release x?touch /pwned)?[2J"));
    }
}
