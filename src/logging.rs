//! Diagnostic logs, with `tracing`: a span for each CLI command and for
//! the tasks that change servers (create, deploy, swap, rollback,
//! provision, destroy, restores, certificates; the environment they work
//! on), each remote step (the server and the template, how long it took,
//! its exit code) and each connection, and a debug event for each
//! DigitalOcean API call (method, path, status, time).
//!
//! What is never logged: a script's text, a script's output (a hook's or
//! a migration's may print secrets), a task's or step's error text (it can
//! quote that output), a request or response body, a token. Only names,
//! ids, paths, exit codes, outcomes, durations, and why a connection
//! failed. The log folder is the user's alone (0700 on Unix; a folder
//! that is not theirs is refused).
//!
//! Where they go:
//! - the CLI: stderr, off unless `-v` (info) / `-vv` (debug); a
//!   `POND_LOG` filter (`tracing_subscriber`'s syntax, e.g. `pond=debug`)
//!   takes precedence; `POND_TRACE=1` is `-v`;
//! - a file, for the app always and for the CLI when `POND_LOG_DIR` is
//!   set: `pond.log.<date>` in [`log_dir`], a new file each day Pond runs,
//!   the last 7 such files kept, at `POND_LOG` or info.

use std::path::PathBuf;

use anyhow::Context;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Log files kept (one per day Pond ran).
const KEPT_FILES: usize = 7;

/// Where log files go: `$POND_LOG_DIR`, else the platform's place —
/// `$XDG_STATE_HOME/pond/logs` or `~/.local/state/pond/logs` on Linux,
/// `~/Library/Logs/pond` on macOS, `%LOCALAPPDATA%\pond\logs` on Windows.
pub fn log_dir() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("POND_LOG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    #[cfg(target_os = "macos")]
    let dir = dirs::home_dir().map(|h| h.join("Library/Logs/pond"));
    #[cfg(not(target_os = "macos"))]
    let dir = dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join("pond").join("logs"));
    dir.context("this system names no per-user directory for logs (is HOME set?)")
}

/// Keeps the file writer flushing until dropped (hold it for the
/// program's life).
pub struct Guard {
    _flush: Option<tracing_appender::non_blocking::WorkerGuard>,
}

fn filter(default: &str) -> EnvFilter {
    match std::env::var("POND_LOG")
        .ok()
        .filter(|f| !f.trim().is_empty())
    {
        Some(f) => EnvFilter::try_new(&f).unwrap_or_else(|e| {
            eprintln!("POND_LOG={f:?} is not a log filter ({e}); using {default}");
            EnvFilter::new(default)
        }),
        None => EnvFilter::new(default),
    }
}

/// Makes the log folder the user's alone: refused when it is not a
/// folder of theirs (a link planted there would be appended to, and old
/// `pond.log*` files in it are deleted), made 0700 when it is more open
/// (the files in it get the umask's modes).
fn private_log_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    crate::platform::create_private_dir(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta =
            std::fs::symlink_metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
        if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
            anyhow::bail!("{} is not a folder of yours", dir.display());
        }
        if meta.mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("making {} private", dir.display()))?;
        }
    }
    Ok(())
}

/// [`log_dir`], made if missing and the user's alone (what Settings →
/// Open log folder opens).
pub fn ensure_log_dir() -> anyhow::Result<PathBuf> {
    let dir = log_dir()?;
    private_log_dir(&dir)?;
    Ok(dir)
}

fn file_layer<S>(
    dir: &std::path::Path,
) -> anyhow::Result<(
    impl tracing_subscriber::Layer<S> + Send + Sync + 'static,
    tracing_appender::non_blocking::WorkerGuard,
)>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    private_log_dir(dir)?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("pond.log")
        .max_log_files(KEPT_FILES)
        .build(dir)
        .with_context(|| format!("opening a log file in {}", dir.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE);
    Ok((layer, guard))
}

/// The CLI's logs: stderr at `-v`/`-vv`/`POND_LOG`, and a file when
/// `POND_LOG_DIR` is set. A file that cannot be opened is said once.
pub fn init_cli(verbose: u8) -> Guard {
    let verbose = verbose.max(u8::from(std::env::var_os("POND_TRACE").is_some()));
    let stderr_default = match verbose {
        0 => "off",
        1 => "pond=info",
        _ => "pond=debug",
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_filter(filter(stderr_default));
    let file = std::env::var_os("POND_LOG_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    match file.as_deref().map(file_layer) {
        Some(Ok((layer, guard))) => {
            let _ = tracing_subscriber::registry()
                .with(stderr)
                .with(layer.with_filter(filter("pond=info")))
                .try_init();
            Guard {
                _flush: Some(guard),
            }
        }
        Some(Err(e)) => {
            eprintln!("Not logging to a file: {e:#}");
            let _ = tracing_subscriber::registry().with(stderr).try_init();
            Guard { _flush: None }
        }
        None => {
            let _ = tracing_subscriber::registry().with(stderr).try_init();
            Guard { _flush: None }
        }
    }
}

/// The app's logs: a file in [`log_dir`], at `POND_LOG` or info.
pub fn init_file() -> anyhow::Result<Guard> {
    let dir = log_dir()?;
    let (layer, guard) = file_layer(&dir)?;
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter("pond=info,pond_app=info")))
        .try_init();
    Ok(Guard {
        _flush: Some(guard),
    })
}
