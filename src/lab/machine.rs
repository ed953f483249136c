//! One lab droplet as a machine: an overlay root over the cached base, its
//! own network namespace, and its own PID, mount, UTS and IPC namespaces
//! whose PID 1 is the base's `pond-lab-init` (sshd + services).
//!
//! Everything here is blocking and idempotent: booting a booted machine or
//! tearing down a half-built one does the right thing, so a crashed lab can
//! always be cleaned up.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::Signal;

use super::net::LabNet;
use super::sys;

/// Runs in the droplet's fresh namespaces (before chroot): hostname, the
/// kernel file systems, a private /dev with devpts, then exec PID 1.
const BOOT: &str = r#"set -eu
root="$1"; name="$2"
hostname "$name"
mount --make-rprivate /
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount -t tmpfs -o mode=755,nosuid tmpfs "$root/run"
mount -t tmpfs -o mode=755,nosuid tmpfs "$root/dev"
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read -r n major minor <<EOF2
$node
EOF2
    mknod -m 666 "$root/dev/$n" c "$major" "$minor"
done
mkdir -p "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
exec chroot "$root" /usr/local/sbin/pond-lab-init
"#;

/// What a droplet is booted with.
#[derive(Debug, Clone)]
pub struct MachineSpec {
    pub hostname: String,
    pub authorized_keys: Vec<String>,
}

/// A droplet's machine on this host.
#[derive(Debug, Clone)]
pub struct Machine {
    pub dir: PathBuf,
    pub base: PathBuf,
    pub net: LabNet,
    pub slot: u8,
}

impl Machine {
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("pid")
    }

    /// PID (in the host's namespace) of the `unshare` process holding the
    /// droplet, if it runs.
    pub fn pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        sys::alive(pid).then_some(pid)
    }

    pub fn running(&self) -> bool {
        self.pid().is_some()
    }

    fn mounted(&self) -> bool {
        is_mount_point(&self.root())
    }

    /// Creates the overlay root and, on first use, the droplet's identity:
    /// hostname, root's authorized keys, fresh SSH host keys.
    pub fn prepare(&self, spec: &MachineSpec) -> anyhow::Result<()> {
        let (upper, work, root) = (self.dir.join("upper"), self.dir.join("work"), self.root());
        for d in [&upper, &work, &root] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        if !self.mounted() {
            let opts = format!(
                "lowerdir={},upperdir={},workdir={}",
                self.base.display(),
                upper.display(),
                work.display()
            );
            sys::run(
                Command::new("mount")
                    .args(["-t", "overlay", "overlay", "-o", &opts])
                    .arg(&root),
            )?;
        }
        let first_boot = !root.join("etc/ssh/ssh_host_ed25519_key").exists();
        if first_boot {
            std::fs::write(root.join("etc/hostname"), format!("{}\n", spec.hostname))?;
            std::fs::write(
                root.join("etc/hosts"),
                format!("127.0.0.1 localhost\n127.0.1.1 {}\n", spec.hostname),
            )?;
            self.install_keys(&spec.authorized_keys)?;
            self.regenerate_host_keys()?;
        }
        let proxy = format!(
            "Acquire::http::Proxy \"http://{}:{}\";\n",
            self.net.host_address(),
            super::aptproxy::PORT
        );
        std::fs::write(root.join("etc/apt/apt.conf.d/01pond-lab-proxy"), proxy)?;
        Ok(())
    }

    fn install_keys(&self, keys: &[String]) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let ssh = self.root().join("root/.ssh");
        std::fs::create_dir_all(&ssh)?;
        std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700))?;
        let path = ssh.join("authorized_keys");
        let mut text = keys.join("\n");
        text.push('\n');
        std::fs::write(&path, text)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(())
    }

    /// Replaces the droplet's SSH host keys with new ones (used on first
    /// boot, and by tests that need a host key to change deliberately).
    pub fn regenerate_host_keys(&self) -> anyhow::Result<()> {
        let etc_ssh = self.root().join("etc/ssh");
        for kind in ["ed25519", "ecdsa"] {
            let key = etc_ssh.join(format!("ssh_host_{kind}_key"));
            let _ = std::fs::remove_file(&key);
            let _ = std::fs::remove_file(key.with_extension("pub"));
            let mut cmd = Command::new("ssh-keygen");
            cmd.args(["-q", "-t", kind, "-N", "", "-C"])
                .arg(format!("root@{}", self.slot))
                .arg("-f")
                .arg(&key);
            sys::run(&mut cmd)
                .context("generating a droplet host key (is openssh-client installed?)")?;
        }
        Ok(())
    }

    /// SHA256 fingerprint of the droplet's ed25519 host key, as
    /// `ssh-keygen -lf` prints it.
    pub fn host_key_fingerprint(&self) -> anyhow::Result<String> {
        let out = sys::run(
            Command::new("ssh-keygen")
                .arg("-lf")
                .arg(self.root().join("etc/ssh/ssh_host_ed25519_key.pub")),
        )?;
        out.split_whitespace()
            .nth(1)
            .map(str::to_string)
            .context("ssh-keygen printed no fingerprint")
    }

    /// Joins the network and starts PID 1. Returns the holder's PID.
    pub fn boot(&self) -> anyhow::Result<u32> {
        if let Some(pid) = self.pid() {
            return Ok(pid);
        }
        self.net.attach(self.slot)?;
        let console = std::fs::File::create(self.dir.join("console.log"))?;
        // nsenter joins the droplet's network namespace and execs unshare
        // (same PID); `unshare --net=FILE` would create a new one instead.
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.net.netns(self.slot)))
            .args([
                "--",
                "unshare",
                "--mount",
                "--uts",
                "--ipc",
                "--pid",
                "--fork",
                "--kill-child",
            ])
            .args(["--", "/bin/sh", "-c", BOOT, "pond-lab-boot"])
            .arg(self.root())
            .arg(hostname_of(&self.root()))
            .stdin(Stdio::null())
            .stdout(console.try_clone()?)
            .stderr(console)
            .spawn()
            .context("starting the droplet with unshare (util-linux)")?;
        let pid = child.id();
        // The child is reaped by a thread so it never lingers as a zombie.
        std::thread::spawn(move || {
            let mut child = child;
            let _ = child.wait();
        });
        std::fs::write(self.pid_file(), format!("{pid}\n"))?;
        Ok(pid)
    }

    /// Waits until sshd on the droplet answers with its banner.
    pub fn wait_ssh(&self, timeout: Duration) -> anyhow::Result<()> {
        let addr = std::net::SocketAddr::from((self.net.droplet_address(self.slot), 22));
        let deadline = Instant::now() + timeout;
        loop {
            if ssh_banner(addr) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let console =
                    std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
                bail!(
                    "droplet at {addr} did not answer SSH within {} s; boot output: {}",
                    timeout.as_secs(),
                    console.trim()
                );
            }
            if !self.running() {
                let console =
                    std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
                bail!(
                    "droplet at {addr} stopped while booting: {}",
                    console.trim()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Stops every process of the droplet: TERM to its PID 1 (which stops
    /// its services), then KILL after a grace period. Leaves the network.
    pub fn power_off(&self) -> anyhow::Result<()> {
        if let Some(pid) = self.pid() {
            if let Some(init) = first_child(pid) {
                sys::signal(init, Signal::SIGTERM);
            }
            if !sys::wait_gone(pid, Duration::from_secs(8)) {
                sys::signal(pid, Signal::SIGKILL);
                if !sys::wait_gone(pid, Duration::from_secs(5)) {
                    bail!("droplet process {pid} did not stop");
                }
            }
        }
        let _ = std::fs::remove_file(self.pid_file());
        self.net.detach(self.slot)
    }

    /// Powers off and unmounts, keeping the droplet's disk (its upper dir).
    pub fn shut_down(&self) -> anyhow::Result<()> {
        self.power_off()?;
        if self.mounted() {
            sys::run(Command::new("umount").arg(self.root()))?;
        }
        Ok(())
    }

    /// Removes the droplet entirely. The disk is moved aside at once and
    /// deleted in the background (a provisioned one takes seconds).
    pub fn destroy(&self) -> anyhow::Result<()> {
        self.shut_down()?;
        if self.dir.exists() {
            // Named after the droplet's own (never reused) directory, so two
            // teardowns can never collide.
            let name = self
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let trash = self
                .dir
                .parent()
                .unwrap_or(Path::new("/"))
                .join(format!(".trash-{name}"));
            std::fs::rename(&self.dir, &trash)?;
            std::thread::spawn(move || {
                let _ = std::fs::remove_dir_all(trash);
            });
        }
        Ok(())
    }
}

fn hostname_of(root: &Path) -> String {
    std::fs::read_to_string(root.join("etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "droplet".into())
}

fn ssh_banner(addr: std::net::SocketAddr) -> bool {
    use std::io::Read;
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).is_ok() && &buf == b"SSH-"
}

/// The first child of a process (the droplet's PID 1 for an `unshare`).
fn first_child(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether `path` is a mount point in this process's mount namespace.
pub fn is_mount_point(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let target = path.to_string_lossy();
    info.lines()
        .any(|l| l.split_whitespace().nth(4) == Some(&target))
}

/// Mount points under `dir` (for leak checks).
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return vec![];
    };
    let prefix = dir.to_string_lossy().into_owned();
    info.lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}
