//! What differs between Unix (Linux, macOS) and Windows for Pond's own
//! files, processes and the ssh-agent, in one place.
//!
//! - **Private files** (the SSH key, tokens' settings): Unix creates them
//!   0600 in 0700 directories and refuses a key others can read. Windows
//!   has no mode bits: Pond's files live in the user's profile
//!   (`%APPDATA%\pond`), whose inherited ACL grants only the user, SYSTEM
//!   and Administrators; Pond sets no ACL of its own and does not check it,
//!   so a `POND_CONFIG_DIR` outside the profile (at the top of `C:\`, say,
//!   where other users can read) leaves the key as readable as that folder.
//! - **The ssh-agent**: `$SSH_AUTH_SOCK` on Unix; on Windows the OpenSSH
//!   agent's named pipe (`\\.\pipe\openssh-ssh-agent`, or `$SSH_AUTH_SOCK`
//!   when it names a pipe), then Pageant.
//! - **File stamps** for the deploy's hash cache: size, mtime and inode on
//!   Unix; size and mtime on Windows (no stable inode without nightly
//!   APIs), so a file replaced by another of the same size and mtime keeps
//!   its hash there.
//! - **Executable bit**: from the mode on Unix; never on Windows (files
//!   deploy 0640, directories 0750).
//! - **Who acts**: `$USER`/`$LOGNAME` or the uid's name on Unix,
//!   `%USERNAME%` on Windows; the host from `/etc/hostname` or
//!   `%COMPUTERNAME%`.

use std::fs::File;
use std::io;
use std::path::Path;

/// Creates `dir` (and parents) readable only by the user on Unix.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates a new file (never an existing one) only the user can read.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// The permission bits others have on `path` (`mode & 0o077`, with the
/// whole mode), when it is readable by anyone but the user; `None` when
/// it is private (always on Windows, see the module's note).
pub fn others_can_read(meta: &std::fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        (mode & 0o077 != 0).then_some(mode & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// The file is executable (Unix mode bits; never on Windows).
pub fn is_executable(meta: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

/// What tells a file unchanged since it was last hashed: its mtime in
/// nanoseconds and its inode (0 on Windows).
pub fn stamp(meta: &std::fs::Metadata) -> (i128, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (
            i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            meta.ino(),
        )
    }
    #[cfg(not(unix))]
    {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        (mtime, 0)
    }
}

/// The user's login name.
pub fn user_name() -> String {
    #[cfg(unix)]
    let found = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        });
    #[cfg(not(unix))]
    let found = std::env::var("USERNAME").ok();
    found
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// This machine's name.
pub fn host_name() -> String {
    #[cfg(unix)]
    let found = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string());
    #[cfg(not(unix))]
    let found = std::env::var("COMPUTERNAME").ok();
    found
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// An ssh-agent connection, whatever carries it.
pub type Agent = russh::keys::agent::client::AgentClient<
    Box<dyn russh::keys::agent::client::AgentStream + Send + Unpin>,
>;

/// Connects to the user's ssh-agent (see the module's note).
pub async fn connect_agent() -> anyhow::Result<Agent> {
    use russh::keys::agent::client::AgentClient;
    #[cfg(unix)]
    {
        AgentClient::connect_env()
            .await
            .map(AgentClient::dynamic)
            .map_err(|e| anyhow::anyhow!("cannot reach the ssh-agent (is SSH_AUTH_SOCK set?): {e}"))
    }
    #[cfg(windows)]
    {
        let pipe = std::env::var("SSH_AUTH_SOCK")
            .ok()
            .filter(|p| p.starts_with(r"\\.\pipe\"))
            .unwrap_or_else(|| r"\\.\pipe\openssh-ssh-agent".to_string());
        match AgentClient::connect_named_pipe(&pipe).await {
            Ok(agent) => Ok(agent.dynamic()),
            Err(pipe_error) => AgentClient::connect_pageant()
                .await
                .map(AgentClient::dynamic)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot reach an ssh-agent: the OpenSSH agent's pipe {pipe}: {pipe_error}; Pageant: {e}"
                    )
                }),
        }
    }
}
