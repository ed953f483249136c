//! Running host commands for the lab (`ip`, `mount`, `debootstrap`, ...)
//! with errors that name the command and carry its stderr.

use std::process::{Command, Output};

use anyhow::{Context, bail};

/// Runs a command to completion; fails with the command line and stderr
/// when it exits non-zero. Returns stdout.
pub fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = output(cmd)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Like [`run`] but returns the whole output.
pub fn output(cmd: &mut Command) -> anyhow::Result<Output> {
    let line = describe(cmd);
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{line}`"))?;
    if !out.status.success() {
        bail!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

/// Runs a command and reports only whether it succeeded (for probes).
pub fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `program arg arg ...` for messages.
pub fn describe(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Fails with a clear sentence unless running as root.
pub fn require_root(what: &str) -> anyhow::Result<()> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        bail!(
            "{what} needs root (it creates network namespaces, mounts and bridges); run it with sudo or as root"
        )
    }
}

/// Whether a process with this PID exists (and is not a zombie).
/// When process `pid` started (field 22 of /proc/PID/stat, in clock
/// ticks since boot): with the PID it names one process, never a later
/// one that reuses the number.
pub fn start_time(pid: u32) -> Option<u64> {
    stat_field(pid, 22)?.parse().ok()
}

/// The parent of process `pid` (field 4 of /proc/PID/stat).
pub fn parent(pid: u32) -> Option<u32> {
    stat_field(pid, 4)?.parse().ok()
}

/// Field `n` (1-based, as proc(5) numbers them) of /proc/PID/stat; the
/// command (field 2) may hold spaces and parentheses, so fields are
/// counted after its closing one.
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace()
        .nth(n.checked_sub(3)?)
        .map(str::to_string)
}

pub fn alive(pid: u32) -> bool {
    stat_field(pid, 3).is_some_and(|state| state != "Z" && state != "X")
}

/// Records `pid` with its start time in `path` (atomically, 0600).
pub fn write_pid_file(path: &std::path::Path, pid: u32) -> anyhow::Result<()> {
    let started = start_time(pid).with_context(|| format!("process {pid} is gone"))?;
    write_private(path, format!("{pid} {started}\n").as_bytes())?;
    Ok(())
}

/// The PID recorded in `path` by [`write_pid_file`], if that very process
/// still runs (same PID and start time: never a later one reusing it).
pub fn read_pid_file(path: &std::path::Path) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut words = text.split_whitespace();
    let pid: u32 = words.next()?.parse().ok()?;
    let started: u64 = words.next()?.parse().ok()?;
    (alive(pid) && start_time(pid) == Some(started)).then_some(pid)
}

/// Sends a signal to a PID; a process that is already gone is not an error.
pub fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// Waits up to `timeout` for a PID to go away.
pub fn wait_gone(pid: u32, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    !alive(pid)
}

/// Writes `path` atomically (a temporary file beside it, renamed over it),
/// readable only by its owner from the start: the lab's own state, which
/// holds its tokens.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
