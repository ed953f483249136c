//! Bash templates from `project-templates/`: their declared inputs, and
//! rendering a run as a quoted preamble followed by the template verbatim.
//!
//! A template is a static `.sh` file, embedded in the binary. Its header
//! declares its inputs, one per line:
//!
//! ```text
//! # summary: what the template does
//! # input NAME [kind]: what it is          (required)
//! # input? NAME [kind]: what it is         (optional, empty when not given)
//! ```
//!
//! `kind` names a grammar from [`crate::config::grammar`] (`domain`,
//! `db_name`, ...) or `text` for free text. Rendering validates every value
//! against its kind, then emits `readonly NAME='...'` lines produced by
//! [`super::quote`], the `report` function of the report protocol
//! ([`super::report`]), then the template verbatim inside `{ ... }; exit`
//! (so bash parses it whole before running it). Template text is never
//! edited or substituted into.

use std::collections::BTreeMap;

use crate::config::grammar::{self, Check};

use super::quote::readonly_assignment;

/// `(id, include_str!("project-templates/<id>.sh"))` for each id.
macro_rules! templates {
    ($($id:literal),* $(,)?) => {
        &[$(($id, include_str!(concat!("../../project-templates/", $id, ".sh")))),*]
    };
}

/// Every template shipped with Pond: (id, source). The id is the path under
/// `project-templates/` without `.sh`.
pub const TEMPLATES: &[(&str, &str)] = templates![
    "common/access",
    "common/attachments",
    "common/backup",
    "common/backup-schedule",
    "common/base",
    "common/deploy-apply",
    "common/deploy-prepare",
    "common/env-users",
    "common/exec",
    "common/health",
    "common/hello",
    "common/hook",
    "common/lock",
    "common/logs",
    "common/point",
    "common/pre-swap",
    "common/processes",
    "common/record",
    "common/release-export",
    "common/release-import",
    "common/secret",
    "common/serving",
    "common/site",
    "common/spare",
    "common/status",
    "common/swap",
    "common/unbind",
    "mysql/credentials",
    "mysql/database",
    "mysql/drop",
    "mysql/export",
    "mysql/import",
    "mysql/snapshot",
    "php/pool",
    "php/stack",
    "static/stack",
    "tls/preview-csr",
    "tls/preview-install",
    "tls/renew",
    "tls/schedule",
];

/// What kind of value an input takes; each maps to one grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    Text,
    Domain,
    ProjectName,
    EnvName,
    DbName,
    DbUser,
    SecretPrefix,
    RepoPath,
    SharedPath,
    WebRoot,
    HttpPath,
    Ipv4,
    DbGrants,
    UnixUser,
    SecretName,
}

impl InputKind {
    const ALL: [InputKind; 15] = [
        InputKind::Text,
        InputKind::Domain,
        InputKind::ProjectName,
        InputKind::EnvName,
        InputKind::DbName,
        InputKind::DbUser,
        InputKind::SecretPrefix,
        InputKind::RepoPath,
        InputKind::SharedPath,
        InputKind::WebRoot,
        InputKind::HttpPath,
        InputKind::Ipv4,
        InputKind::DbGrants,
        InputKind::UnixUser,
        InputKind::SecretName,
    ];

    fn parse(s: &str) -> Option<InputKind> {
        InputKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The name used in template headers.
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Text => "text",
            InputKind::Domain => "domain",
            InputKind::ProjectName => "project_name",
            InputKind::EnvName => "env_name",
            InputKind::DbName => "db_name",
            InputKind::DbUser => "db_user",
            InputKind::SecretPrefix => "secret_prefix",
            InputKind::RepoPath => "repo_path",
            InputKind::SharedPath => "shared_path",
            InputKind::WebRoot => "web_root",
            InputKind::HttpPath => "http_path",
            InputKind::Ipv4 => "ipv4",
            InputKind::DbGrants => "db_grants",
            InputKind::UnixUser => "unix_user",
            InputKind::SecretName => "secret_name",
        }
    }

    /// The grammar of this kind, applied to `value`.
    pub fn check(self, value: &str) -> Check {
        match self {
            InputKind::Text => Ok(()),
            InputKind::Domain => grammar::domain(value),
            InputKind::ProjectName => grammar::project_name(value),
            InputKind::EnvName => grammar::env_name(value),
            InputKind::DbName => grammar::db_name(value),
            InputKind::DbUser => grammar::db_user(value),
            InputKind::SecretPrefix => grammar::secret_prefix(value),
            InputKind::RepoPath => grammar::repo_path(value),
            InputKind::SharedPath => grammar::shared_path(value),
            InputKind::WebRoot => grammar::web_root(value),
            InputKind::HttpPath => grammar::http_path(value),
            InputKind::Ipv4 => grammar::ipv4(value),
            InputKind::DbGrants => grammar::db_grants(value),
            InputKind::UnixUser => grammar::unix_user(value),
            InputKind::SecretName => grammar::secret_name(value),
        }
    }
}

/// One declared input of a template.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Input {
    pub name: String,
    pub kind: InputKind,
    pub required: bool,
    pub description: String,
}

impl Input {
    /// Whether `value` may be given for this input: its kind's grammar, except
    /// that an optional input may be empty (not given).
    pub fn check(&self, value: &str) -> Check {
        if self.required || !value.is_empty() {
            self.kind.check(value)
        } else {
            Ok(())
        }
    }
}

/// A parsed template: its id, header facts and verbatim source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Template {
    pub id: String,
    pub summary: String,
    pub inputs: Vec<Input>,
    #[serde(skip)]
    pub source: String,
}

/// A template that cannot be used, or inputs that do not fit it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("no template named {0:?}; known templates: {1}")]
    Unknown(String, String),
    #[error("template {id} line {line}: {message}")]
    BadHeader {
        id: String,
        line: usize,
        message: String,
    },
    #[error("template {id} needs input {name} ({description})")]
    MissingInput {
        id: String,
        name: String,
        description: String,
    },
    #[error("template {id} has no input {name}; its inputs are: {known}")]
    UnknownInput {
        id: String,
        name: String,
        known: String,
    },
    #[error("input {name}: {value} is not valid; {expected}")]
    InvalidInput {
        name: String,
        value: String,
        expected: String,
    },
}

impl Template {
    /// Parses a template's header. `source` is kept verbatim.
    pub fn parse(id: &str, source: &str) -> Result<Template, TemplateError> {
        let bad = |line: usize, message: String| TemplateError::BadHeader {
            id: id.to_string(),
            line,
            message,
        };
        let mut summary = String::new();
        let mut inputs: Vec<Input> = vec![];
        let mut saw_strict_mode = false;
        for (n, line) in source.lines().enumerate() {
            let n = n + 1;
            if let Some(rest) = line.strip_prefix("# summary:") {
                summary = rest.trim().to_string();
            } else if let Some(rest) = line
                .strip_prefix("# input?")
                .map(|r| (r, false))
                .or_else(|| line.strip_prefix("# input").map(|r| (r, true)))
                .filter(|(r, _)| r.starts_with(' '))
            {
                let (decl, required) = rest;
                let (head, description) = decl
                    .split_once(':')
                    .ok_or_else(|| bad(n, "expected `# input NAME [kind]: description`".into()))?;
                let mut words = head.split_whitespace();
                let name = words.next().unwrap_or_default();
                grammar::input_name(name).map_err(|e| bad(n, format!("{name:?}: {e}")))?;
                let kind = match words.next() {
                    None => InputKind::Text,
                    Some(k) => k
                        .strip_prefix('[')
                        .and_then(|k| k.strip_suffix(']'))
                        .and_then(InputKind::parse)
                        .ok_or_else(|| bad(n, format!("unknown input kind {k}")))?,
                };
                if inputs.iter().any(|i| i.name == name) {
                    return Err(bad(n, format!("input {name} is declared twice")));
                }
                inputs.push(Input {
                    name: name.to_string(),
                    kind,
                    required,
                    description: description.trim().to_string(),
                });
            } else if line.trim() == "set -euo pipefail" {
                saw_strict_mode = true;
                break;
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                return Err(bad(
                    n,
                    "the first command of a template must be `set -euo pipefail`".into(),
                ));
            }
        }
        if !saw_strict_mode {
            return Err(bad(0, "a template must run `set -euo pipefail`".into()));
        }
        Ok(Template {
            id: id.to_string(),
            summary,
            inputs,
            source: source.to_string(),
        })
    }

    /// Looks up a shipped template by id.
    pub fn builtin(id: &str) -> Result<Template, TemplateError> {
        let (id, source) = TEMPLATES
            .iter()
            .find(|(known, _)| *known == id)
            .ok_or_else(|| TemplateError::Unknown(id.to_string(), ids().join(", ")))?;
        Template::parse(id, source)
    }

    /// Renders a run: header comment, one `readonly` line per declared input
    /// (validated, quoted by the one quoting function), then the template
    /// verbatim.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<Script, TemplateError> {
        if let Some(unknown) = values
            .keys()
            .find(|k| !self.inputs.iter().any(|i| &i.name == *k))
        {
            let known: Vec<&str> = self.inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(TemplateError::UnknownInput {
                id: self.id.clone(),
                name: unknown.clone(),
                known: if known.is_empty() {
                    "(none)".into()
                } else {
                    known.join(", ")
                },
            });
        }
        let mut text = format!("#!/usr/bin/env bash\n# pond: template {}\n", self.id);
        let mut bound = vec![];
        for input in &self.inputs {
            let value = match values.get(&input.name) {
                Some(v) => v.as_str(),
                None if input.required => {
                    return Err(TemplateError::MissingInput {
                        id: self.id.clone(),
                        name: input.name.clone(),
                        description: input.description.clone(),
                    });
                }
                None => "",
            };
            let invalid = |expected: String| TemplateError::InvalidInput {
                name: input.name.clone(),
                value: crate::config::show(value),
                expected,
            };
            input.check(value).map_err(invalid)?;
            let line =
                readonly_assignment(&input.name, value).map_err(|e| invalid(e.to_string()))?;
            text.push_str(&line);
            text.push('\n');
            bound.push((input.name.clone(), value.to_string()));
        }
        text.push_str(super::report::BASH_FUNCTION);
        // The template runs as one brace group: bash must read all of it
        // before running any of it, so a command that reads stdin (tar in
        // a deploy) gets the data sent after the script, never the rest of
        // the script. `exit` on the same line stops bash from reading on.
        text.push_str("{\n");
        text.push_str(&self.source);
        if !self.source.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("}; exit\n");
        Ok(Script {
            template: self.id.clone(),
            inputs: bound,
            text,
        })
    }
}

/// The declared input `name` of the shipped template `id`: what pond.json
/// validation checks a value against when that value reaches this input, so
/// a file that loads is a file every command can render.
///
/// # Panics
///
/// When no shipped template declares that input: a mistake in Pond itself,
/// which every test that validates a project file would show.
pub fn builtin_input(id: &str, name: &str) -> Input {
    Template::builtin(id)
        .ok()
        .and_then(|t| t.inputs.into_iter().find(|i| i.name == name))
        .unwrap_or_else(|| panic!("template {id} declares no input {name}"))
}

/// Ids of all shipped templates.
pub fn ids() -> Vec<&'static str> {
    TEMPLATES.iter().map(|(id, _)| *id).collect()
}

/// A rendered script: what will be fed to `bash -s` on the target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Script {
    pub template: String,
    pub inputs: Vec<(String, String)>,
    pub text: String,
}

/// `text` as it is sent to run: a rendered template's body (what follows
/// its preamble) without its comment lines, outside strings and
/// here-documents. Comments are most of a template's size; bash reads
/// past them anyway, and the plan keeps them ([`Script::text`] is shown as
/// it is). The preamble (the inputs' values, which may hold any line) is
/// never touched; a script that is not a rendered template is sent as it
/// is. Every shipped template reads the same to bash with and without
/// them (a test compares bash's own listing of both).
pub fn without_comments(text: &str) -> std::borrow::Cow<'_, str> {
    // The preamble's end: the report function, then the body's brace. No
    // input's value can hold it as it is: it holds a `'`, which quoting
    // always writes as `'\''` (a test checks a value that tries).
    let opening = format!("{}{{\n", super::report::BASH_FUNCTION);
    let Some(at) = text.find(&opening) else {
        return std::borrow::Cow::Borrowed(text);
    };
    let body_start = at + opening.len();
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..body_start]);
    // The end of the here-document being passed through: its word, and
    // whether its lines may start with tabs (`<<-`).
    let mut until: Option<(String, bool)> = None;
    // The quote a line ends inside of (a string over several lines: an
    // inner script's text, a file's), whose lines are kept as they are.
    let mut open = Quote::None;
    for line in text[body_start..].split_inclusive('\n') {
        if let Some((word, tabs)) = &until {
            let bare = line.trim_end_matches('\n');
            let bare = if *tabs {
                bare.trim_start_matches('\t')
            } else {
                bare
            };
            if bare == word {
                until = None;
            }
            out.push_str(line);
            continue;
        }
        if open == Quote::None && line.trim_start().starts_with('#') {
            continue;
        }
        out.push_str(line);
        let code = open == Quote::None;
        open = quote_after(line, open);
        if code {
            until = here_document(line);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The quote a script is inside of at some point.
#[derive(Clone, Copy, PartialEq)]
enum Quote {
    None,
    Single,
    Double,
}

/// The quote `line` ends inside of, given the one it starts in: single and
/// double quotes, backslashes, and a comment at a word's start (the rest
/// of the line). Enough for Pond's templates (a test checks every one
/// with bash).
fn quote_after(line: &str, mut open: Quote) -> Quote {
    let mut chars = line.chars();
    let mut blank_before = true;
    while let Some(c) = chars.next() {
        match (open, c) {
            (Quote::Single, '\'') => open = Quote::None,
            (Quote::Single, _) => {}
            (Quote::Double, '\\') | (Quote::None, '\\') => {
                chars.next();
            }
            (Quote::Double, '"') => open = Quote::None,
            (Quote::Double, _) => {}
            (Quote::None, '\'') => open = Quote::Single,
            (Quote::None, '"') => open = Quote::Double,
            (Quote::None, '#') if blank_before => break,
            (Quote::None, _) => {}
        }
        // (A word starts after a blank or a metacharacter: `{` is neither.)
        blank_before = c.is_whitespace() || matches!(c, ';' | '(' | ')' | '|' | '&' | '<' | '>');
    }
    open
}

/// The here-document a line opens (`<<WORD`, `<<'WORD'`, `<<"WORD"`,
/// `<<-WORD`): its end word and whether tabs may lead its lines. Not a
/// here-string (`<<<`).
fn here_document(line: &str) -> Option<(String, bool)> {
    let mut rest = line;
    while let Some(at) = rest.find("<<") {
        let after = &rest[at + 2..];
        if after.starts_with('<') {
            rest = after.trim_start_matches('<');
            continue;
        }
        let (tabs, after) = match after.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, after),
        };
        let after = after.trim_start();
        let word: String = match after.chars().next() {
            Some(q @ ('\'' | '"')) => after[1..].chars().take_while(|c| *c != q).collect(),
            _ => after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect(),
        };
        if !word.is_empty() {
            return Some((word, tabs));
        }
        rest = after;
    }
    None
}
