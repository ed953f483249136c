//! The one place a planned script runs. Tasks build an [`Operation`] (a
//! rendered template for one droplet: [`script`] or [`on`], or a [`Step`]
//! — a script for whichever server — bound to one with [`Step::on`]); a
//! dry run shows it in a [`Plan`](crate::plan::Plan), a real run hands
//! the very same value to [`run`] (or [`run_ok`], for which a non-zero
//! exit is an error; [`run_piped`] when its stdout is data; [`run_on`] and
//! [`run_piped_on`] for a host that is not the environment's), which feeds
//! its text to `bash -s` on that droplet's session. No task hands a
//! script's text to a session itself.

use anyhow::{Context, bail};
use tokio::io::{AsyncRead, AsyncWrite};

use super::Connected;
use crate::plan::{Action, Method, Operation, Target};
use crate::ssh::Sink;
use crate::ssh::session::{Endpoint, Outcome, Session};

/// The droplet `c` is connected to, as a plan names it.
pub fn target_of(c: &Connected) -> Target {
    droplet(&c.server.endpoint)
}

/// A droplet reached at `endpoint`, as a plan names it.
pub fn droplet(endpoint: &Endpoint) -> Target {
    Target::Droplet {
        name: endpoint.name.clone(),
        address: Some(endpoint.address.clone()),
    }
}

/// The template `id` rendered with `inputs`, to run on the droplet at
/// `endpoint` as its login user (root).
pub fn script(
    description: impl Into<String>,
    endpoint: &Endpoint,
    id: &str,
    inputs: &[(&str, &str)],
) -> anyhow::Result<Operation> {
    Ok(Operation {
        description: description.into(),
        target: droplet(endpoint),
        action: Action::Script {
            user: endpoint.user.clone(),
            script: super::render_script(id, inputs)?,
        },
    })
}

/// The template `id` rendered with `inputs`, to run on the droplet `c` is
/// connected to as its login user.
pub fn on(
    c: &Connected,
    description: impl Into<String>,
    id: &str,
    inputs: &[(&str, &str)],
) -> anyhow::Result<Operation> {
    script(description, &c.server.endpoint, id, inputs)
}

/// Runs `op` on `c` (which must be its target), with `input` streamed
/// after the script on the same stdin. A non-zero exit is in the outcome.
pub async fn run(
    c: &Connected,
    op: &Operation,
    input: Option<Box<dyn AsyncRead + Send + Unpin>>,
    sink: &Sink,
) -> anyhow::Result<Outcome> {
    // The server's own name: one pooled session may serve two servers of
    // different environments at the same address.
    c.session
        .run(checked(&target_of(c), op)?, input, sink)
        .await
}

/// Runs `op` on `session` like [`run`]: for a server that is not one of
/// the environment's (the source host of `--db-from`).
pub async fn run_on(
    session: &Session,
    op: &Operation,
    input: Option<Box<dyn AsyncRead + Send + Unpin>>,
    sink: &Sink,
) -> anyhow::Result<Outcome> {
    session
        .run(checked(&droplet(&session.endpoint), op)?, input, sink)
        .await
}

/// Runs `op`, a lock script (`common/lock`), on `c` and keeps it running
/// while the lock is held ([`Session::hold_lock`]): the lock, or who holds
/// it.
pub async fn hold_lock(
    c: &Connected,
    op: &Operation,
) -> anyhow::Result<Result<crate::ssh::session::HeldLock, String>> {
    c.session.hold_lock(checked(&target_of(c), op)?).await
}

/// Runs `op` on `c` with its stdout written to `output` as data (a
/// backup's file, a release streamed to another server); stderr goes to
/// `sink`. A non-zero exit is in the outcome.
pub async fn run_piped(
    c: &Connected,
    op: &Operation,
    output: Box<dyn AsyncWrite + Send + Unpin>,
    sink: &Sink,
) -> anyhow::Result<Outcome> {
    c.session
        .run_piped(checked(&target_of(c), op)?, output, sink)
        .await
}

/// Runs `op` on `session` like [`run_piped`]: for a server that is not
/// one of the environment's (the source host of `--db-from`).
pub async fn run_piped_on(
    session: &Session,
    op: &Operation,
    output: Box<dyn AsyncWrite + Send + Unpin>,
    sink: &Sink,
) -> anyhow::Result<Outcome> {
    session
        .run_piped(checked(&droplet(&session.endpoint), op)?, output, sink)
        .await
}

/// The text of `op`'s script (empty for an API request): for a script
/// that is an input of another (a timer's).
pub fn script_text(op: &Operation) -> &str {
    match &op.action {
        Action::Script { script, .. } => &script.text,
        Action::Api(_) => "",
    }
}

/// The text of `op`'s script, once it is known to be a script planned for
/// `target`.
fn checked<'a>(target: &Target, op: &'a Operation) -> anyhow::Result<&'a str> {
    let Action::Script { script, .. } = &op.action else {
        bail!("{}: not a script, so not for a server", op.description);
    };
    if &op.target != target {
        bail!(
            "{}: planned for {}, not {target}",
            op.description,
            op.target,
        );
    }
    Ok(&script.text)
}

/// Sends `op`, a DigitalOcean API request, through `client` (the caller's
/// client for the account the plan names); the answer's JSON body. Its
/// path must be plain segments under `/v2/` (letters, digits, `.`, `_`,
/// `-`; never `.` or `..`, no query): an id read from pond.json or an
/// answer cannot turn a request into one on another resource.
pub async fn api(
    client: &crate::digitalocean::Client,
    op: &Operation,
) -> anyhow::Result<serde_json::Value> {
    let (method, path, body) = request_of(op)?;
    client.call(method, path, body, &op.description).await
}

/// Sends `op` like [`api`], but once: never retried (a request that
/// orders something, like a certificate, could order two).
pub async fn api_once(
    client: &crate::digitalocean::Client,
    op: &Operation,
) -> anyhow::Result<serde_json::Value> {
    let (method, path, body) = request_of(op)?;
    client.call_once(method, path, body, &op.description).await
}

/// Sends `op`, a planned `POST /v2/droplets` ([`super::droplets::create_request`]),
/// through the client's droplet creation, which never makes a duplicate when
/// it retries; the new droplet's record.
pub async fn create_droplet(
    client: &crate::digitalocean::Client,
    op: &Operation,
) -> anyhow::Result<serde_json::Value> {
    match request_of(op)? {
        (reqwest::Method::POST, "/droplets", Some(body)) => client.create_droplet(body).await,
        _ => bail!("{}: not a request creating a droplet", op.description),
    }
}

/// A DigitalOcean API request on `account`, as an operation.
pub fn api_request(
    account: &str,
    description: String,
    method: Method,
    path: String,
    body: Option<serde_json::Value>,
) -> Operation {
    Operation {
        description,
        target: Target::DigitalOcean {
            account: account.to_string(),
        },
        action: Action::Api(crate::plan::ApiRequest { method, path, body }),
    }
}

/// Whether [`api`] would send `op` (a plain DigitalOcean request), without
/// sending it: a task checks its whole plan before it sends the first.
pub fn check_api(op: &Operation) -> anyhow::Result<()> {
    request_of(op).map(|_| ())
}

/// What [`api`] sends for `op`: its method, its path under the API base,
/// its body; an error when it is not a plain DigitalOcean request.
fn request_of(
    op: &Operation,
) -> anyhow::Result<(reqwest::Method, &str, Option<&serde_json::Value>)> {
    let Action::Api(request) = &op.action else {
        bail!("{}: not an API request", op.description);
    };
    let Target::DigitalOcean { .. } = &op.target else {
        bail!(
            "{}: planned for {}, not DigitalOcean",
            op.description,
            op.target
        );
    };
    let path = request
        .path
        .strip_prefix("/v2")
        .filter(|p| p.starts_with('/'))
        .with_context(|| format!("{}: {} is not under /v2/", op.description, request.path))?;
    let plain = |segment: &str| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    if !path[1..].split('/').all(plain) {
        bail!(
            "{}: the request path {} is not plain (an id with `/`, `..` or other characters); nothing was sent",
            op.description,
            crate::config::show(&request.path)
        );
    }
    let method = match request.method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Delete => reqwest::Method::DELETE,
    };
    Ok((method, path, request.body.as_ref()))
}

/// A script for whichever server it runs on (a step of provisioning, of a
/// TLS set-up): the rendered template with its inputs and what it does.
/// [`Step::on`] binds it to a droplet as an [`Operation`]; a dry run
/// shows those operations, a real run hands them to [`run_ok`].
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub description: String,
    pub script: crate::plan::Script,
}

impl Step {
    /// The template `id` rendered with `inputs`.
    pub fn new(
        description: impl Into<String>,
        id: &str,
        inputs: &[(&str, &str)],
    ) -> anyhow::Result<Step> {
        Ok(Step {
            description: description.into(),
            script: super::render_script(id, inputs)?,
        })
    }

    /// This step on the droplet at `endpoint`, as its login user.
    pub fn on(&self, endpoint: &Endpoint) -> Operation {
        Operation {
            description: self.description.clone(),
            target: droplet(endpoint),
            action: Action::Script {
                user: endpoint.user.clone(),
                script: self.script.clone(),
            },
        }
    }
}

/// Runs `op` on `c` like [`run`]; a non-zero exit is an error naming the
/// operation, the droplet and the end of what it said on stderr.
pub async fn run_ok(c: &Connected, op: &Operation, sink: &Sink) -> anyhow::Result<Outcome> {
    let server = &c.server.endpoint.name;
    let outcome = run(c, op, None, sink).await?;
    if outcome.exit_code != 0 {
        bail!(
            "{} failed on {server} (exit {}): {}",
            op.description,
            outcome.exit_code,
            crate::ssh::session::last_lines(&outcome.stderr, 8)
        );
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ApiRequest;

    /// Every `.rs` file under `dir`.
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn no_task_hands_a_script_to_a_session_itself() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![];
        for dir in ["src", "src-tauri/src"] {
            sources(&root.join(dir), &mut files);
        }
        let direct = |text: &str| {
            let code: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            ["session.run(", "session.run_piped(", "session.hold_lock("]
                .iter()
                .any(|call| code.contains(call))
        };
        let offenders: Vec<String> = files
            .iter()
            .filter(|f| !f.ends_with("tasks/execute.rs") && !f.starts_with(root.join("src/ssh")))
            .filter(|f| direct(&std::fs::read_to_string(f).unwrap()))
            .map(|f| f.display().to_string())
            .collect();
        assert!(
            offenders.is_empty(),
            "scripts run only through tasks::execute: {offenders:?}"
        );
    }

    fn delete(path: &str) -> Operation {
        Operation {
            description: "delete load balancer x".into(),
            target: Target::DigitalOcean {
                account: "agency".into(),
            },
            action: Action::Api(ApiRequest {
                method: Method::Delete,
                path: path.into(),
                body: None,
            }),
        }
    }

    #[test]
    fn only_plain_paths_under_v2_are_sent() {
        let op = delete("/v2/load_balancers/4de7ac8b-495b-4884-9a69-1050c6793cd6");
        let (method, path, body) = request_of(&op).unwrap();
        assert_eq!(method, reqwest::Method::DELETE);
        assert_eq!(path, "/load_balancers/4de7ac8b-495b-4884-9a69-1050c6793cd6");
        assert!(body.is_none());
        for bad in [
            "/v2/load_balancers/../droplets/5",
            "/v2/load_balancers/%2e%2e/droplets/5",
            "/v2/load_balancers/x?tag_name=all",
            "/v2/load_balancers/x#y",
            "/v2/load_balancers//5",
            "/v2/load_balancers/./5",
            "/v3/droplets/5",
            "/v2",
            "http://198.18.0.1/v2/droplets/5",
        ] {
            let err = request_of(&delete(bad)).unwrap_err().to_string();
            assert!(err.starts_with("delete load balancer x: "), "{bad}: {err}");
        }
        let mut script = delete("/v2/droplets/5");
        script.target = Target::Unbound;
        assert!(
            request_of(&script).is_err(),
            "an API request is for DigitalOcean"
        );
    }
}
