//! One SSH connection to a server (russh): host-key check against the
//! pinned fingerprint, public-key auth, keepalives, and running rendered
//! scripts with `bash -s` while their output streams line by line to a
//! progress sink. A lost connection is an error naming the host, never a
//! hang: keepalives end a dead session within ~20 s.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use russh::ChannelMsg;
use russh::client;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::key::Identity;
use crate::plan::report::{self, Report, ReportError};

/// Which stream a line of remote output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
    /// A step Pond itself reports ("Uploading 3 files"). A step lasts until
    /// the next step of its prefix (a server works through its steps in
    /// order; servers work in parallel), or until the run ends. Pond's own
    /// prefixes end sooner: the task waits for each [`API`] call before it
    /// does anything else, and only calls the API between the servers'
    /// phases, so an [`API`] step ends every running step and any later
    /// step ends it; a [`LOCAL`] step reports work already done on this
    /// computer, so any later step ends it.
    Step,
    /// A fact about work already finished ("lock taken", "provisioned", a
    /// health result): it ends its prefix's running step as a step would,
    /// is shown done at once, and starts nothing (so no later work is
    /// timed as part of it).
    Done,
}

/// The prefix of steps Pond takes through the DigitalOcean API.
pub const API: &str = "digitalocean";

/// The prefix of steps Pond takes on this computer (scanning the project).
pub const LOCAL: &str = "local";

/// Receives remote output as it arrives: (host, stream, line).
pub type Sink = Arc<dyn Fn(&str, Stream, &str) + Send + Sync>;

/// A sink that drops everything.
pub fn quiet() -> Sink {
    Arc::new(|_, _, _| {})
}

/// Where to connect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Name for messages (the droplet name).
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
}

/// How to treat the server's host key.
#[derive(Debug, Clone)]
pub enum HostKeyCheck {
    /// Must match this SHA256 fingerprint.
    Pinned(String),
    /// Accept and report the key (first connection: trust on first use).
    FirstUse,
}

/// The host key a server presented did not match the pinned one.
#[derive(Debug, thiserror::Error)]
#[error(
    "the SSH host key of {name} ({address}) has changed: pinned {pinned}, presented {presented}. \
     If the server was rebuilt on purpose, check the new fingerprint out of band and re-pin it with \
     `pond repin ENV {name} --expect {presented}`; otherwise someone may be intercepting the connection, so do not continue"
)]
pub struct HostKeyMismatch {
    pub name: String,
    pub address: String,
    pub pinned: String,
    pub presented: String,
}

struct Handler {
    check: HostKeyCheck,
    presented: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Handler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let fingerprint = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                key.fingerprint(HashAlg::Sha256).to_string()
            }
            PublicKeyOrCertificate::Certificate(cert) => {
                cert.public_key().fingerprint(HashAlg::Sha256).to_string()
            }
        };
        let ok = match &self.check {
            HostKeyCheck::Pinned(pinned) => pinned == &fingerprint,
            HostKeyCheck::FirstUse => true,
        };
        *self.presented.lock().expect("lock") = Some(fingerprint);
        Ok(ok)
    }
}

/// An authenticated connection.
pub struct Session {
    pub endpoint: Endpoint,
    /// The server's host key fingerprint (SHA256:...).
    pub host_key: String,
    /// The public key line this session authenticated with.
    pub client_key: String,
    handle: client::Handle<Handler>,
    /// Channels open at once on this connection, at most
    /// [`MAX_CHANNELS`]: sshd refuses more than its `MaxSessions` (10 by
    /// default), and one connection may serve several environments
    /// (`Project::statuses` through a pool).
    channels: Arc<tokio::sync::Semaphore>,
}

/// How many channels a session opens at once; more wait for one to close.
pub const MAX_CHANNELS: usize = 8;

/// Result of a remote script.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub exit_code: u32,
    /// What the script printed, less its report lines.
    pub stdout: String,
    pub stderr: String,
    /// What the script reported ([`crate::plan::report`]), in order.
    pub reports: Vec<Report>,
}

/// Seconds between keepalives (three missed = the connection is lost):
/// 5, or `$POND_SSH_KEEPALIVE_SECS` (1-60; the fault tests use 1).
fn keepalive_interval() -> Duration {
    let secs = std::env::var("POND_SSH_KEEPALIVE_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| (1..=60).contains(s))
        .unwrap_or(5);
    Duration::from_secs(secs)
}

impl Session {
    /// Connects, checks the host key, authenticates with the identity.
    pub async fn connect(
        endpoint: &Endpoint,
        identity: &Identity,
        check: HostKeyCheck,
    ) -> anyhow::Result<Session> {
        let config = Arc::new(client::Config {
            inactivity_timeout: None,
            keepalive_interval: Some(keepalive_interval()),
            keepalive_max: 3,
            nodelay: true,
            ..Default::default()
        });
        let presented = Arc::new(Mutex::new(None));
        let handler = Handler {
            check: check.clone(),
            presented: Arc::clone(&presented),
        };
        let target = (endpoint.address.as_str(), endpoint.port);
        let connecting = client::connect(config, target, handler);
        let result = tokio::time::timeout(Duration::from_secs(15), connecting).await;
        let mut handle = match result {
            Err(_) => bail!(
                "cannot reach {} ({}:{}): no answer within 15 s",
                endpoint.name,
                endpoint.address,
                endpoint.port
            ),
            Ok(Err(e)) => {
                let seen = presented.lock().expect("lock").clone();
                if let (HostKeyCheck::Pinned(pinned), Some(seen)) = (&check, seen)
                    && &seen != pinned
                {
                    return Err(HostKeyMismatch {
                        name: endpoint.name.clone(),
                        address: endpoint.address.clone(),
                        pinned: pinned.clone(),
                        presented: seen,
                    }
                    .into());
                }
                return Err(anyhow::Error::new(e)).with_context(|| {
                    format!(
                        "cannot connect to {} ({}:{})",
                        endpoint.name, endpoint.address, endpoint.port
                    )
                });
            }
            Ok(Ok(h)) => h,
        };
        let host_key = presented.lock().expect("lock").clone().unwrap_or_default();
        let hash = handle
            .best_supported_rsa_hash()
            .await
            .ok()
            .flatten()
            .flatten();
        let auth = match &identity.secret {
            super::key::Secret::File(key) => handle
                .authenticate_publickey(
                    endpoint.user.clone(),
                    PrivateKeyWithHashAlg::new(Arc::clone(key), hash),
                )
                .await
                .with_context(|| format!("authenticating to {}", endpoint.name))?,
            super::key::Secret::Agent => {
                let mut agent = crate::platform::connect_agent().await?;
                handle
                    .authenticate_publickey_with(
                        endpoint.user.clone(),
                        identity.public.clone(),
                        hash,
                        &mut agent,
                    )
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "authenticating to {} with the ssh-agent: {e:?}",
                            endpoint.name
                        )
                    })?
            }
        };
        if !auth.success() {
            bail!(
                "{} ({}) refused the key {} for user {}; add its public key to the server's authorized_keys (`pond key` prints it)",
                endpoint.name,
                endpoint.address,
                identity.fingerprint(),
                endpoint.user
            );
        }
        Ok(Session {
            endpoint: endpoint.clone(),
            host_key,
            client_key: identity.public_line(),
            handle,
            channels: Arc::new(tokio::sync::Semaphore::new(MAX_CHANNELS)),
        })
    }

    /// "the connection to NAME (ADDRESS) was lost", for errors.
    fn lost(&self) -> String {
        format!(
            "the connection to {} ({}) was lost",
            self.endpoint.name, self.endpoint.address
        )
    }

    /// A new channel running `bash -s`, ready for a script on stdin, with
    /// its place among the session's channels (held while it is open).
    async fn open_bash(
        &self,
    ) -> anyhow::Result<(
        russh::Channel<client::Msg>,
        tokio::sync::OwnedSemaphorePermit,
    )> {
        let permit = Arc::clone(&self.channels)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let channel = self
            .handle
            .channel_open_session()
            .await
            .with_context(|| self.lost())?;
        channel
            .exec(true, "bash -s")
            .await
            .with_context(|| self.lost())?;
        Ok((channel, permit))
    }

    /// Runs `script` with `bash -s`, then streams `input` (if any) on the
    /// same stdin after the script. Output goes to `sink` line by line and
    /// is also returned. Fails only if the connection breaks; a non-zero
    /// exit is in the outcome.
    pub async fn run(
        &self,
        script: &str,
        input: Option<Box<dyn AsyncRead + Send + Unpin>>,
        sink: &Sink,
    ) -> anyhow::Result<Outcome> {
        self.run_io(script, input, None, sink).await
    }

    /// Like [`Session::run`], but the script's stdout is binary data
    /// written to `output` (closed at the end), not lines; stderr still
    /// goes to `sink`. For streaming a release from one server to another.
    pub async fn run_piped(
        &self,
        script: &str,
        output: Box<dyn AsyncWrite + Send + Unpin>,
        sink: &Sink,
    ) -> anyhow::Result<Outcome> {
        self.run_io(script, None, Some(output), sink).await
    }

    async fn run_io(
        &self,
        script: &str,
        input: Option<Box<dyn AsyncRead + Send + Unpin>>,
        output: Option<Box<dyn AsyncWrite + Send + Unpin>>,
        sink: &Sink,
    ) -> anyhow::Result<Outcome> {
        let started = std::time::Instant::now();
        let template = template_of(script);
        let span = tracing::info_span!("step", server = %self.endpoint.name, template = %template);
        let result = tracing::Instrument::instrument(
            async {
                tokio::select! {
                    biased;
                    r = self.run_io_untimed(script, input, output, sink) => r,
                    _ = self.until_closed() => Err(anyhow::anyhow!("{}", self.lost())),
                }
            },
            span.clone(),
        )
        .await;
        let ms = started.elapsed().as_millis() as u64;
        span.in_scope(|| match &result {
            Ok(o) => tracing::info!(exit = o.exit_code, ms, "step ran"),
            Err(_) => tracing::warn!(ms, "step failed"),
        });
        result
    }

    /// Resolves once the connection has ended (keepalives unanswered, cut,
    /// closed): whatever still waits on one of its channels then fails with
    /// a clear error instead of waiting forever.
    async fn until_closed(&self) {
        while !self.handle.is_closed() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn run_io_untimed(
        &self,
        script: &str,
        input: Option<Box<dyn AsyncRead + Send + Unpin>>,
        mut output: Option<Box<dyn AsyncWrite + Send + Unpin>>,
        sink: &Sink,
    ) -> anyhow::Result<Outcome> {
        let name = self.endpoint.name.clone();
        let lost = || self.lost();
        let (channel, _open) = self.open_bash().await?;
        let (mut reader, writer) = channel.split();
        let (tag, text) = tagged_and_framed(script)?;
        let send = async move {
            writer.data(&text[..]).await?;
            if let Some(mut input) = input {
                // Copy in chunks so a slow server applies back-pressure.
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let n = input.read(&mut buf).await.map_err(russh::Error::IO)?;
                    if n == 0 {
                        break;
                    }
                    writer.data(&buf[..n]).await?;
                }
            }
            writer.eof().await?;
            Ok::<_, russh::Error>(writer)
        };
        let receive = async {
            let (mut out, mut err) = (LineBuffer::reading_reports(&tag), LineBuffer::default());
            let mut code = None;
            let mut output_failed = None;
            while let Some(msg) = reader.wait().await {
                match msg {
                    ChannelMsg::Data { data } => match output.as_mut() {
                        Some(w) if output_failed.is_none() => {
                            if let Err(e) = w.write_all(&data).await {
                                output_failed = Some(e);
                            }
                        }
                        Some(_) => {}
                        None => out.push(&data, |l| sink(&name, Stream::Stdout, l)),
                    },
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        err.push(&data, |l| sink(&name, Stream::Stderr, l))
                    }
                    ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
                    _ => {}
                }
            }
            out.finish(|l| sink(&name, Stream::Stdout, l));
            err.finish(|l| sink(&name, Stream::Stderr, l));
            if let Some(w) = output.as_mut()
                && let Err(e) = w.shutdown().await
            {
                output_failed.get_or_insert(e);
            }
            (code, out, err.all, output_failed)
        };
        let (sent, (code, out, stderr, output_failed)) = tokio::join!(send, receive);
        if let Some(e) = output_failed {
            return Err(anyhow::Error::new(e).context(format!(
                "{name}: the stream from this server could not be passed on"
            )));
        }
        let code = code.with_context(|| {
            format!("{}: the remote script ended without an exit status", lost())
        })?;
        // The server may exit before reading all input (e.g. a refused lock):
        // that is its answer, not a transport failure.
        if let Err(e) = sent
            && code == 0
        {
            return Err(anyhow::Error::new(e)).with_context(lost);
        }
        if let Some(e) = out.unreadable.first() {
            bail!(
                "{name}: {} sent {e}. This Pond and its templates disagree: please report it",
                template_of(script)
            );
        }
        Ok(Outcome {
            exit_code: code,
            stdout: String::from_utf8_lossy(&out.all).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            reports: out.reports,
        })
    }

    /// Runs a lock script that reports `locked` with its pid (then waits
    /// for stdin to end; a `lock-ended` report before it says whose lock it
    /// broke) or `lock-held` with the holder (then exits). Returns a guard
    /// that keeps the lock until [`HeldLock::release`] or until dropped
    /// with the connection.
    pub async fn hold_lock(&self, script: &str) -> anyhow::Result<Result<HeldLock, String>> {
        let started = std::time::Instant::now();
        let held = tokio::select! {
            biased;
            r = self.hold_lock_untimed(script) => r,
            _ = self.until_closed() => Err(anyhow::anyhow!("{}", self.lost())),
        };
        tracing::info!(
            server = %self.endpoint.name,
            template = template_of(script),
            ms = started.elapsed().as_millis() as u64,
            held = matches!(held, Ok(Ok(_))),
            "lock"
        );
        held
    }

    async fn hold_lock_untimed(&self, script: &str) -> anyhow::Result<Result<HeldLock, String>> {
        let lost = || self.lost();
        let (channel, open) = self.open_bash().await?;
        let (tag, text) = tagged_and_framed(script)?;
        channel.data(&text[..]).await.with_context(lost)?;
        let (mut reader, writer) = channel.split();
        let (mut out, mut err) = (LineBuffer::reading_reports(&tag), LineBuffer::default());
        while let Some(msg) = reader.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.push(&data, |_| {}),
                ChannelMsg::ExtendedData { data, .. } => err.push(&data, |_| {}),
                _ => {}
            }
            if let Some(pid) = crate::reported!(out.reports, Report::Locked { pid } => *pid) {
                let ended =
                    crate::reported!(out.reports, Report::LockEnded { holder } => holder.clone());
                return Ok(Ok(HeldLock {
                    reader,
                    writer,
                    pid,
                    ended,
                    _open: open,
                }));
            }
        }
        out.finish(|_| {});
        if let Some(e) = out.unreadable.first() {
            bail!("{}: the lock script sent {e}", self.endpoint.name);
        }
        if let Some(holder) = crate::reported!(out.reports, Report::LockHeld { holder } => holder) {
            return Ok(Err(holder.trim().to_string()));
        }
        bail!(
            "taking the deploy lock on {} failed: {}",
            self.endpoint.name,
            last_lines(&String::from_utf8_lossy(&err.all), 6)
        )
    }

    /// Whether the connection has ended (dropped, cut, closed).
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// A deploy lock held by a remote process on the server.
pub struct HeldLock {
    reader: russh::ChannelReadHalf,
    writer: russh::ChannelWriteHalf<client::Msg>,
    /// The holding process on the server: scripts doing the work under
    /// this lock join it (`LOCK_PID`), so breaking the lock ends them too.
    pub pid: u32,
    /// When the lock was broken to take it: who held it (their record).
    pub ended: Option<String>,
    /// Its channel's place among the session's open channels.
    _open: tokio::sync::OwnedSemaphorePermit,
}

impl HeldLock {
    /// Ends the remote holder (its stdin closes) and waits for it to exit.
    /// Best effort and bounded: on a lost connection the server frees the
    /// lock itself when sshd notices (the holder's stdin closes).
    pub async fn release(mut self) {
        let ending = async {
            let _ = self.writer.eof().await;
            while self.reader.wait().await.is_some() {}
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), ending).await;
    }
}

/// `script` framed for `bash -s`: a first line that reads the script whole
/// (`head -c`, in large reads) and runs it only if all of it came, then
/// the script. Read by `bash -s` itself, a script costs a system call per
/// byte (bash reads a pipe byte by byte, so as not to take input meant for
/// the commands it runs): 20-40 ms for deploy-apply's ~60 KB on a small
/// droplet. What follows the script on stdin (an upload, the lock's
/// hold) stays for the script's commands, as before. A script of
/// [`GZIP_FROM`] bytes or more goes gzip-compressed (to a third of its
/// size or less: its comments compress well), unpacked by `gzip -d`, which
/// every Debian has (it is essential).
fn framed(script: &str) -> Vec<u8> {
    let text = format!("{script}\n{FRAME_END}\n");
    let (body, unpack) = if text.len() >= GZIP_FROM {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes())
            .expect("writing to memory succeeds");
        (
            gz.finish().expect("writing to memory succeeds"),
            " | gzip -dc",
        )
    } else {
        (text.into_bytes(), "")
    };
    let mut framed = format!(
        "pond_script=\"$(head -c {}{unpack})\" && [[ \"$pond_script\" == *$'\\n'{FRAME_END} ]] && eval \"$pond_script\"; exit\n",
        body.len()
    )
    .into_bytes();
    framed.extend_from_slice(&body);
    framed
}

/// Scripts this long or longer are sent compressed (smaller ones would
/// save less than the extra process costs).
const GZIP_FROM: usize = 4096;

/// A fresh run tag, and `script` as the executor sends it: without its
/// comments ([`crate::plan::template::without_comments`]), tagged
/// ([`report::tagged`]), then framed.
fn tagged_and_framed(script: &str) -> anyhow::Result<(String, Vec<u8>)> {
    let (tag, text) = report::tagged(&crate::plan::template::without_comments(script))?;
    Ok((tag, framed(&text)))
}

/// The last line of a framed script: without it, nothing runs.
const FRAME_END: &str = "#pond-script-end";

/// The template a rendered script came from (its `# pond: template` line),
/// or `script` for one written by hand.
pub fn template_of(script: &str) -> &str {
    script
        .lines()
        .take(3)
        .find_map(|l| l.strip_prefix("# pond: template "))
        .unwrap_or("script")
}

/// The last `n` non-empty lines of `text`, joined for a message.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    let tail = lines[start..].join(" | ");
    if tail.is_empty() {
        "(no error output)".into()
    } else {
        tail
    }
}

/// Splits a byte stream into lines for the sink, keeping everything.
#[derive(Default)]
struct LineBuffer {
    pending: Vec<u8>,
    /// Every byte pushed, less the report lines taken out.
    all: Vec<u8>,
    /// The run's report tag: lines carrying it are reports, taken out of
    /// the output into `reports` (or `unreadable`).
    tag: Option<String>,
    reports: Vec<Report>,
    unreadable: Vec<ReportError>,
}

impl LineBuffer {
    /// A buffer that takes the reports of the run tagged `tag` out.
    fn reading_reports(tag: &str) -> LineBuffer {
        LineBuffer {
            tag: Some(tag.to_string()),
            ..LineBuffer::default()
        }
    }

    fn push(&mut self, data: &[u8], mut emit: impl FnMut(&str)) {
        self.pending.extend_from_slice(data);
        while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            self.line(line, true, &mut emit);
        }
    }

    fn finish(&mut self, mut emit: impl FnMut(&str)) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.line(line, false, &mut emit);
        }
    }

    fn line(&mut self, mut line: Vec<u8>, ended: bool, emit: &mut impl FnMut(&str)) {
        let text = String::from_utf8_lossy(&line[..line.len() - usize::from(ended)]).into_owned();
        let text = text.trim_end_matches('\r');
        if let Some(tag) = &self.tag
            && let Some(start) = report::report_start(text, tag)
            && let Some(parsed) = report::parse_line(&text[start..], tag)
        {
            match parsed {
                Ok(r) => self.reports.push(r),
                Err(e) => self.unreadable.push(e),
            }
            if start == 0 {
                return;
            }
            // Output the report was glued to stays output, ending its line.
            let before = &text[..start];
            emit(before);
            line = format!("{before}\n").into_bytes();
        } else {
            emit(text);
        }
        self.all.extend_from_slice(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `stdin` through a local `bash -s`, as sshd would; its stdout.
    fn bash_s(stdin: &[u8]) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("bash")
            .arg("-s")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("bash runs");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    /// A script long enough to go compressed: `lines` echo lines, padded.
    fn long_script(lines: usize) -> String {
        (0..lines)
            .map(|i| format!("echo line {i} # {}\n", "a comment ".repeat(8)))
            .collect()
    }

    #[test]
    fn a_framed_script_runs_whole_and_leaves_what_follows_it_on_stdin() {
        let script = "set -euo pipefail\nf() { echo \"in f: $1\"; }\nf one\nprintf 'rest: %s\\n' \"$(cat)\"\nexit 7\n";
        // Short (sent as it is) and long (sent compressed).
        for script in [script.to_string(), format!("{}{script}", long_script(200))] {
            let mut stdin = framed(&script);
            stdin.extend_from_slice(b"the upload\n");
            let out = bash_s(&stdin);
            assert!(
                out.ends_with("in f: one\nrest: the upload\n"),
                "{}",
                &out[out.len().saturating_sub(200)..]
            );
        }
        let long = framed(&long_script(200));
        assert!(long.len() < long_script(200).len() / 4, "sent compressed");
        assert_eq!(bash_s(&long).lines().count(), 200);
    }

    #[test]
    fn a_framed_script_cut_short_runs_nothing() {
        let script = "echo first\necho second\n";
        let whole = framed(script);
        let second = String::from_utf8_lossy(&whole).find("echo second").unwrap();
        // Cut inside the script, and just before its end line.
        for cut in [whole.len() - 12, second] {
            assert_eq!(bash_s(&whole[..cut]), "", "cut at {cut}");
        }
        // Compressed: cut inside, and just before its last bytes.
        let whole = framed(&long_script(200));
        for cut in [whole.len() / 2, whole.len() - 4, whole.len() - 1] {
            assert_eq!(bash_s(&whole[..cut]), "", "cut at {cut}");
        }
    }

    #[test]
    fn reports_are_taken_out_of_the_output_even_after_an_unended_line() {
        let mut b = LineBuffer::reading_reports("t1");
        let mut shown = vec![];
        b.push(
            b"hook done@pond:t1 {\"kind\":\"live\",\"target\":\"blue\"}\nplain\n@pond:t2 {\"kind\":\"live\",\"target\":\"green\"}\n",
            |l| shown.push(l.to_string()),
        );
        b.push(b"@pond:t1 {\"kind\":\"disk\"}\n", |l| {
            shown.push(l.to_string())
        });
        b.finish(|l| shown.push(l.to_string()));
        assert_eq!(
            b.reports,
            [Report::Live {
                target: "blue".into()
            }]
        );
        assert_eq!(b.unreadable.len(), 1, "a disk report without its fields");
        let other = "@pond:t2 {\"kind\":\"live\",\"target\":\"green\"}";
        assert_eq!(shown, ["hook done", "plain", other]);
        assert_eq!(
            String::from_utf8(b.all).unwrap(),
            format!("hook done\nplain\n{other}\n")
        );
    }

    #[test]
    fn lines_are_split_across_chunks() {
        let mut b = LineBuffer::default();
        let mut got = vec![];
        b.push(b"one\ntw", |l| got.push(l.to_string()));
        b.push(b"o\r\nthree", |l| got.push(l.to_string()));
        b.finish(|l| got.push(l.to_string()));
        assert_eq!(got, ["one", "two", "three"]);
        assert_eq!(b.all, b"one\ntwo\r\nthree");
    }

    #[test]
    fn last_lines_skips_blanks() {
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b | c");
        assert_eq!(last_lines("", 2), "(no error output)");
    }
}
