//! The build step (pond.json `hooks.build`): commands run on this machine
//! in the project directory before a deploy sends anything, e.g. `npm ci
//! && npm run build`. Each runs in the platform's shell with stdin closed;
//! its output streams as the `local` server's; the first that fails stops
//! the deploy, before any file is sent or anything changes on a server.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::ssh::{LOCAL, Sink, Stream};

/// Runs every build command in order; fails naming the first that fails.
pub async fn run(commands: &[String], project_root: &Path, sink: &Sink) -> anyhow::Result<()> {
    for command in commands {
        sink(LOCAL, Stream::Step, &format!("build: {command}"));
        let mut child = shell(command)
            .current_dir(project_root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the build step `{command}`"))?;
        let out = child.stdout.take().context("the build step's output")?;
        let err = child.stderr.take().context("the build step's errors")?;
        let forward = |reader, stream| {
            let sink = sink.clone();
            async move {
                let mut lines = BufReader::new(reader).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    sink(LOCAL, stream, &line);
                }
            }
        };
        let (status, (), ()) = tokio::join!(
            child.wait(),
            forward(
                Box::new(out) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                Stream::Stdout
            ),
            forward(
                Box::new(err) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                Stream::Stderr
            ),
        );
        let status = status.with_context(|| format!("waiting for the build step `{command}`"))?;
        if !status.success() {
            bail!("the build step `{command}` failed ({status}); nothing was sent to the servers");
        }
    }
    Ok(())
}

#[cfg(unix)]
fn shell(command: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("sh");
    c.arg("-c").arg(command);
    c
}

#[cfg(windows)]
fn shell(command: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("cmd");
    c.arg("/C").arg(command);
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn commands_run_in_order_in_the_project_and_the_first_failure_stops() {
        let dir = tempfile::tempdir().unwrap();
        let seen: Arc<Mutex<Vec<(Stream, String)>>> = Arc::default();
        let sink: Sink = {
            let seen = Arc::clone(&seen);
            Arc::new(move |_: &str, stream: Stream, line: &str| {
                seen.lock().unwrap().push((stream, line.to_string()))
            })
        };
        run(
            &[
                "echo built > dist.txt && echo made".into(),
                "echo oops >&2".into(),
            ],
            dir.path(),
            &sink,
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("dist.txt")).unwrap(),
            "built\n"
        );
        let lines = seen.lock().unwrap().clone();
        assert!(
            lines.contains(&(Stream::Stdout, "made".into())),
            "{lines:?}"
        );
        assert!(
            lines.contains(&(Stream::Stderr, "oops".into())),
            "{lines:?}"
        );
        let err = run(&["exit 3".into(), "touch never".into()], dir.path(), &sink)
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("the build step `exit 3` failed"),
            "{err:#}"
        );
        assert!(!dir.path().join("never").exists());
    }
}
