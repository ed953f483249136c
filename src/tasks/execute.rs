//! The one place a planned script runs. Tasks build an [`Operation`] (a
//! rendered template for one droplet, [`script`]); a dry run shows it in a
//! [`Plan`](crate::plan::Plan), a real run hands the very same value to
//! [`run`], which feeds its text to `bash -s` on that droplet's session.

use anyhow::bail;
use tokio::io::AsyncRead;

use super::Connected;
use crate::plan::{Action, Operation, Target};
use crate::ssh::Sink;
use crate::ssh::session::{Endpoint, Outcome};

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

/// Runs `op` on `c` (which must be its target), with `input` streamed
/// after the script on the same stdin. A non-zero exit is in the outcome.
pub async fn run(
    c: &Connected,
    op: &Operation,
    input: Option<Box<dyn AsyncRead + Send + Unpin>>,
    sink: &Sink,
) -> anyhow::Result<Outcome> {
    let Action::Script { script, .. } = &op.action else {
        bail!("{}: not a script, so not for a server", op.description);
    };
    if op.target != target_of(c) {
        bail!(
            "{}: planned for {}, not {}",
            op.description,
            op.target,
            target_of(c)
        );
    }
    c.session.run(&script.text, input, sink).await
}
