//! Files the lab (root on the host) writes into or reads from a droplet's
//! root: the droplet's own root user may have planted links anywhere in
//! it, so every directory on the way is opened with `O_NOFOLLOW`
//! relative to the one before (`openat`), a file is written under a new
//! name and renamed over the old one (a planted link is replaced, never
//! followed), and reads refuse a link. Nothing here ever leaves the root.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path};

use anyhow::{Context, bail};
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::{Mode, mkdirat};

/// Opens `root`, then each directory of `dirs` below it without following
/// links, creating missing ones with `create`'s mode when given.
fn open_dirs(root: &Path, dirs: &Path, create: Option<u32>) -> anyhow::Result<OwnedFd> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut dir = nix::fcntl::open(root, flags, Mode::empty())
        .with_context(|| format!("opening {}", root.display()))?;
    for part in dirs.components() {
        let Component::Normal(name) = part else {
            bail!("{} is not a plain relative path", dirs.display());
        };
        if let Some(mode) = create {
            match mkdirat(&dir, name, Mode::from_bits_truncate(mode)) {
                Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                Err(e) => return Err(e).with_context(|| format!("creating {}", dirs.display())),
            }
        }
        dir = openat(&dir, name, flags, Mode::empty()).with_context(|| {
            format!(
                "opening {} in the droplet (not a directory, or a link)",
                dirs.display()
            )
        })?;
    }
    Ok(dir)
}

fn split(rel: &str) -> anyhow::Result<(&Path, &std::ffi::OsStr)> {
    let path = Path::new(rel);
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => bail!("{rel} is not a file path"),
    }
}

/// Writes `bytes` to `rel` under `root` with `mode`, replacing whatever is
/// there (a link included) by a rename; missing directories are made 0755.
pub fn write(root: &Path, rel: &str, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let (parent, name) = split(rel)?;
    write_in_dir(root, parent, name, bytes, mode, 0o755)
}

/// [`write`] whose missing directories are made with `dir_mode`.
pub fn write_private_dir(
    root: &Path,
    rel: &str,
    bytes: &[u8],
    mode: u32,
    dir_mode: u32,
) -> anyhow::Result<()> {
    let (parent, name) = split(rel)?;
    write_in_dir(root, parent, name, bytes, mode, dir_mode)
}

fn write_in_dir(
    root: &Path,
    parent: &Path,
    name: &std::ffi::OsStr,
    bytes: &[u8],
    mode: u32,
    dir_mode: u32,
) -> anyhow::Result<()> {
    let dir = open_dirs(root, parent, Some(dir_mode))?;
    let mut temporary = name.to_os_string();
    temporary.push(".pond-lab-new");
    let _ = nix::unistd::unlinkat(
        &dir,
        temporary.as_os_str(),
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    );
    let fd = openat(
        &dir,
        temporary.as_os_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )
    .with_context(|| format!("creating {} in the droplet", parent.join(name).display()))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)?;
    // The mode asked for, whatever the umask did.
    nix::sys::stat::fchmod(&file, Mode::from_bits_truncate(mode))?;
    drop(file);
    renameat(&dir, temporary.as_os_str(), &dir, name)
        .with_context(|| format!("replacing {} in the droplet", parent.join(name).display()))?;
    Ok(())
}

/// The largest file [`read`] returns.
pub const MAX_READ: u64 = 64 * 1024;

/// Opens `rel` under `root` for reading, refusing a link anywhere on the
/// way, and checks it is a regular file (not a FIFO or a device) of at
/// most [`MAX_READ`] bytes.
fn open_regular(root: &Path, rel: &str) -> anyhow::Result<std::fs::File> {
    let (parent, name) = split(rel)?;
    let dir = open_dirs(root, parent, None)?;
    // O_NONBLOCK: opening a FIFO never waits for a writer.
    let fd = openat(
        &dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening {rel} in the droplet"))?;
    let file = std::fs::File::from(fd);
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() > MAX_READ {
        bail!("{rel} in the droplet is not a regular file of at most {MAX_READ} bytes");
    }
    Ok(file)
}

/// Reads `rel` under `root`: a regular file of at most [`MAX_READ`] bytes,
/// reached without following a link.
pub fn read(root: &Path, rel: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = vec![];
    open_regular(root, rel)?
        .take(MAX_READ)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Whether `rel` under `root` is a regular file reached without a link.
pub fn is_file(root: &Path, rel: &str) -> bool {
    open_regular(root, rel).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_links_are_replaced_or_refused_never_followed() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        // A linked file: replaced by a regular one; the target is untouched.
        let target = outside.path().join("victim");
        std::fs::write(&target, "host file").unwrap();
        std::os::unix::fs::symlink(&target, r.join("etc/hostname")).unwrap();
        write(r, "etc/hostname", b"web-1\n", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "host file");
        assert_eq!(std::fs::read(r.join("etc/hostname")).unwrap(), b"web-1\n");
        assert!(
            !std::fs::symlink_metadata(r.join("etc/hostname"))
                .unwrap()
                .is_symlink()
        );
        // A linked directory on the way: refused.
        std::os::unix::fs::symlink(outside.path(), r.join("etc/apt")).unwrap();
        assert!(write(r, "etc/apt/apt.conf.d/proxy", b"x", 0o644).is_err());
        assert!(!outside.path().join("apt.conf.d").exists());
        // Missing directories are made, with the mode asked for.
        write_private_dir(r, "root/.ssh/authorized_keys", b"k\n", 0o600, 0o700).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| std::fs::metadata(r.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            (mode("root/.ssh"), mode("root/.ssh/authorized_keys")),
            (0o700, 0o600)
        );
        // Reads refuse links too.
        std::os::unix::fs::symlink(&target, r.join("etc/linked")).unwrap();
        assert!(read(r, "etc/linked").is_err());
        assert_eq!(read(r, "etc/hostname").unwrap(), b"web-1\n");
        assert!(is_file(r, "etc/hostname") && !is_file(r, "etc/linked"));
        // A FIFO is refused at once (no wait for a writer), so is a big file.
        nix::unistd::mkfifo(&r.join("etc/fifo"), Mode::from_bits_truncate(0o644)).unwrap();
        assert!(read(r, "etc/fifo").is_err());
        std::fs::write(r.join("etc/big"), vec![b'x'; MAX_READ as usize + 1]).unwrap();
        assert!(read(r, "etc/big").is_err());
    }
}
