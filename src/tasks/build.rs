//! The build step (pond.json `hooks.build`): commands run on this machine
//! in the project directory before a deploy sends anything, e.g. `npm ci
//! && npm run build`. Each runs in the platform's shell with stdin closed;
//! its output streams as the `local` server's; the first that fails stops
//! the deploy, before any file is sent or anything changes on a server.
//! The build does not see Pond's own token variables. On Unix each command
//! runs in a process group of its own, ended when the command ends (a
//! daemon it left holding the output gets 2 s) or the deploy is cancelled.
//! Not handled: a command that never ends (no timeout; cancel the deploy),
//! and on Windows anything the command started outlives a cancel.

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
            // The account's token is not the build's business.
            .env_remove("POND_DO_TOKEN")
            .env_remove("POND_LAB_TOKEN")
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
                // Any bytes (a Windows code page, a progress bar): each line
                // shown as text, and the pipe read to its end.
                let mut reader = BufReader::new(reader);
                let mut line = Vec::new();
                while let Ok(n) = reader.read_until(b'\n', &mut line).await {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&line);
                    sink(LOCAL, stream, text.trim_end_matches(['\n', '\r']));
                    line.clear();
                }
            }
        };
        // The command's whole process group ends with it, or with this
        // future when the deploy is cancelled.
        let _group = Group(child.id());
        let readers = async {
            tokio::join!(
                forward(
                    Box::new(out) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                    Stream::Stdout
                ),
                forward(
                    Box::new(err) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                    Stream::Stderr
                ),
            )
        };
        tokio::pin!(readers);
        let status = tokio::select! {
            status = child.wait() => {
                // A daemon the command left holding the pipes must not
                // hold the deploy.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), readers).await;
                status
            }
            _ = &mut readers => child.wait().await,
        };
        let status = status.with_context(|| format!("waiting for the build step `{command}`"))?;
        if !status.success() {
            bail!("the build step `{command}` failed ({status}); nothing was sent to the servers");
        }
    }
    Ok(())
}

/// A build command's processes, ended when this is dropped: on Unix its
/// own process group; on Windows the shell's process tree (`taskkill /T`).
struct Group(Option<u32>);

impl Drop for Group {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            use nix::sys::signal::{Signal, killpg};
            let _ = killpg(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
        #[cfg(windows)]
        if let Some(pid) = self.0 {
            let _ = std::process::Command::new("taskkill")
                .args(["/T", "/F", "/PID", &pid.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

#[cfg(unix)]
fn shell(command: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("sh");
    c.arg("-c").arg(command).process_group(0);
    c
}

#[cfg(windows)]
fn shell(command: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("cmd");
    // cmd reads its own command line: quoted as cmd does, not as C does.
    c.raw_arg(format!("/S /C \"{command}\""));
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
        // A child left in the background neither holds the build nor lives on.
        let started = std::time::Instant::now();
        run(
            &["(sleep 30; touch late) & echo started".into()],
            dir.path(),
            &sink,
        )
        .await
        .unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let ps = std::process::Command::new("pgrep")
            .args(["-f", "sleep 30"])
            .output()
            .unwrap();
        assert!(
            ps.stdout.is_empty(),
            "the build's background child was ended"
        );
    }
}
