//! One lab droplet as a machine: an overlay root over its image's cached
//! base, booted by `systemd-nspawn --boot` inside the droplet's own network
//! namespace, so systemd is its PID 1 (journald, units, timers) as on a
//! real droplet. nspawn rather than a hand-made PID 1 because it is what
//! systemd itself supports for containers (`/run/systemd/container`,
//! clean shutdown on SIGTERM, a private /dev, /proc and /sys), in Debian.
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
use super::{guest_fs, sys};

/// How long a clean shutdown (every unit stopped) may take before the
/// machine is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

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

    /// PID (in the host's namespace) of the `systemd-nspawn` process
    /// holding the droplet, if it runs.
    /// The pid file holds the PID and its start time, so a stale file (a
    /// crash, a host reboot) never names an unrelated process.
    pub fn pid(&self) -> Option<u32> {
        sys::read_pid_file(&self.pid_file())
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
        // Everything written into the root goes through guest_fs: the
        // droplet's root may have planted links to make the host write
        // outside it.
        // The base a droplet's disk was made on: an upper dir over another
        // base (an older lab) would be a broken machine.
        let made_on = self.dir.join("base");
        let base_name = self
            .base
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match std::fs::read_to_string(&made_on) {
            Ok(recorded) if recorded.trim() != base_name => bail!(
                "this droplet's disk was made on the lab base {}, and this lab boots {base_name}: \
                 delete the droplet (or run `pond lab destroy`)",
                recorded.trim()
            ),
            Ok(_) => {}
            Err(_) if std::fs::read_dir(&upper)?.next().is_some() => bail!(
                "this droplet's disk was made by an older lab (before it recorded its base): \
                 delete the droplet (or run `pond lab destroy`)"
            ),
            Err(_) => std::fs::write(&made_on, format!("{base_name}\n"))?,
        }
        // Written last, on the host side: a cut while the identity is made
        // makes all of it again on the next boot.
        let identity = self.dir.join("identity");
        if !identity.is_file() {
            let hostname = &spec.hostname;
            guest_fs::write(
                &root,
                "etc/hostname",
                format!("{hostname}\n").as_bytes(),
                0o644,
            )?;
            guest_fs::write(
                &root,
                "etc/hosts",
                format!("127.0.0.1 localhost\n127.0.1.1 {hostname}\n").as_bytes(),
                0o644,
            )?;
            let mut keys = spec.authorized_keys.join("\n");
            keys.push('\n');
            guest_fs::write_private_dir(
                &root,
                "root/.ssh/authorized_keys",
                keys.as_bytes(),
                0o600,
                0o700,
            )?;
            self.regenerate_host_keys()?;
            sys::write_private(&identity, b"made\n")?;
        }
        let proxy = format!(
            "Acquire::http::Proxy \"http://{}:{}\";\n",
            self.net.host_address(),
            super::aptproxy::PORT
        );
        guest_fs::write(
            &root,
            "etc/apt/apt.conf.d/01pond-lab-proxy",
            proxy.as_bytes(),
            0o644,
        )?;
        Ok(())
    }

    /// Replaces the droplet's SSH host keys with new ones (used on first
    /// boot, and by tests that need a host key to change deliberately):
    /// made on the host in a private temporary directory, then written in.
    pub fn regenerate_host_keys(&self) -> anyhow::Result<()> {
        let made = tempfile::tempdir()?;
        for kind in ["ed25519", "ecdsa"] {
            let name = format!("ssh_host_{kind}_key");
            let key = made.path().join(&name);
            let mut cmd = Command::new("ssh-keygen");
            cmd.args(["-q", "-t", kind, "-N", "", "-C"])
                .arg(format!("root@{}", self.slot))
                .arg("-f")
                .arg(&key);
            sys::run(&mut cmd)
                .context("generating a droplet host key (is openssh-client installed?)")?;
            let root = self.root();
            let public = std::fs::read(key.with_extension("pub"))?;
            guest_fs::write(
                &root,
                &format!("etc/ssh/{name}"),
                &std::fs::read(&key)?,
                0o600,
            )?;
            guest_fs::write(&root, &format!("etc/ssh/{name}.pub"), &public, 0o644)?;
        }
        Ok(())
    }

    /// Makes the droplet's sshd reload (it reads its host keys when it
    /// starts): SIGHUP to the main process of its `ssh.service`, found in
    /// the droplet's cgroup. Nothing of the droplet's is run on the host.
    pub fn reload_sshd(&self) -> anyhow::Result<()> {
        let init = self
            .pid()
            .and_then(container_init)
            .context("the droplet is not running")?;
        let cgroup = self
            .cgroups()
            .into_iter()
            .next()
            .context("the droplet has no cgroup")?;
        let service = cgroup.join("payload/system.slice/ssh.service/cgroup.procs");
        let procs = std::fs::read_to_string(&service)
            .with_context(|| format!("reading {}", service.display()))?;
        let main = procs
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .find(|&p| sys::parent(p) == Some(init))
            .context("the droplet's sshd is not running")?;
        sys::signal(main, Signal::SIGHUP);
        Ok(())
    }

    /// Waits (4 s at most) until the droplet's sshd presents the ed25519
    /// host key on its disk (`ssh-keyscan`, from the host).
    pub fn wait_for_presented_host_key(&self, address: std::net::Ipv4Addr) -> anyhow::Result<()> {
        let public = guest_fs::read(&self.root(), "etc/ssh/ssh_host_ed25519_key.pub")?;
        let public = String::from_utf8_lossy(&public);
        let key = public
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
        loop {
            let out = Command::new("ssh-keyscan")
                .args(["-T", "2", "-t", "ed25519"])
                .arg(address.to_string())
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output();
            if let Ok(out) = out
                && String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .any(|field| field == key)
            {
                return Ok(());
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the droplet's sshd does not present its new host key after 4 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// SHA256 fingerprint of the droplet's ed25519 host key, as
    /// `ssh-keygen -lf` prints it.
    pub fn host_key_fingerprint(&self) -> anyhow::Result<String> {
        let public = guest_fs::read(&self.root(), "etc/ssh/ssh_host_ed25519_key.pub")?;
        let copy = tempfile::NamedTempFile::new()?;
        std::fs::write(copy.path(), public)?;
        let out = sys::run(Command::new("ssh-keygen").arg("-lf").arg(copy.path()))?;
        out.split_whitespace()
            .nth(1)
            .map(str::to_string)
            .context("ssh-keygen printed no fingerprint")
    }

    /// Joins the network and boots the machine (systemd as PID 1).
    /// Returns the PID of its `systemd-nspawn`.
    pub fn boot(&self) -> anyhow::Result<u32> {
        if let Some(pid) = self.pid() {
            return Ok(pid);
        }
        self.net.attach(self.slot)?;
        let console = std::fs::File::create(self.dir.join("console.log"))?;
        let cgroups = self.cgroups();
        for dir in &cgroups {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the droplet's cgroup {}", dir.display()))?;
        }
        // nspawn runs in the droplet's own cgroup (in every hierarchy
        // systemd uses): without one, every droplet's systemd would manage
        // the same `/payload` cgroup and stop the others' services.
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(r#"for g in "$@"; do case "$g" in --) break ;; esac; echo $$ > "$g/cgroup.procs" || exit 1; done
while [ "$1" != -- ]; do shift; done; shift; exec "$@""#)
            .arg("pond-lab-boot")
            .args(&cgroups)
            .arg("--")
            .arg("systemd-nspawn")
            .arg("--quiet")
            .arg("--boot")
            .arg("--directory")
            .arg(self.root())
            .arg(format!("--machine={}", self.machine_name()))
            .arg(format!(
                "--network-namespace-path=/run/netns/{}",
                self.net.netns(self.slot)
            ))
            // No systemd on the host to register with; stay in our cgroup.
            .args(["--register=no", "--keep-unit"])
            // The droplet's own resolv.conf, clock zone and journal.
            .args(["--resolv-conf=off", "--timezone=off", "--link-journal=no"])
            // Its firewall (nftables) as on a real droplet: the network
            // namespace is the droplet's own.
            .arg("--capability=CAP_NET_ADMIN")
            // No console: the droplet's own output stays in its journal, so
            // it cannot fill the host's disk; nspawn's errors go to
            // console.log.
            .arg("--console=passive")
            .stdin(Stdio::null())
            .stdout(console.try_clone()?)
            .stderr(console)
            .spawn()
            .context("starting the droplet with systemd-nspawn (package systemd-container)")?;
        let pid = child.id();
        // The child is reaped by a thread so it never lingers as a zombie.
        std::thread::spawn(move || {
            let mut child = child;
            let _ = child.wait();
        });
        sys::write_pid_file(&self.pid_file(), pid)
            .context("the droplet's nspawn exited at once")?;
        Ok(pid)
    }

    /// nspawn's machine name (the hostname until systemd sets the one in
    /// /etc/hostname): from the droplet's directory, never read from its
    /// root.
    fn machine_name(&self) -> String {
        let id = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id: String = id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(40)
            .collect();
        format!("droplet-{id}-{}", self.slot)
    }

    /// The end of the boot output (nspawn's own messages), control
    /// characters shown escaped, for an error message.
    fn console_tail(&self) -> String {
        let bytes = std::fs::read(self.dir.join("console.log")).unwrap_or_default();
        let tail = &bytes[bytes.len().saturating_sub(4096)..];
        String::from_utf8_lossy(tail)
            .chars()
            .flat_map(|c| {
                if c.is_control() && c != '\n' {
                    c.escape_default().collect::<Vec<_>>()
                } else {
                    vec![c]
                }
            })
            .collect::<String>()
            .trim()
            .to_string()
    }

    /// The droplet's cgroups: one per hierarchy systemd uses on this host
    /// (`name=systemd` of a v1/hybrid layout, the unified v2 one), named
    /// after the droplet's directory so no two droplets share one.
    fn cgroups(&self) -> Vec<PathBuf> {
        let name = self
            .dir
            .to_string_lossy()
            .trim_start_matches('/')
            .replace('/', "-");
        [
            "/sys/fs/cgroup/systemd",
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup",
        ]
        .iter()
        .map(Path::new)
        .filter(|root| root.join("cgroup.procs").is_file())
        .take(2)
        .map(|root| root.join("pond-lab").join(&name))
        .collect()
    }

    /// Removes the droplet's cgroups once nothing runs in them (deepest
    /// first: the droplet's systemd made its own inside).
    fn remove_cgroups(&self) {
        fn remove(dir: &Path) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        remove(&e.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
        self.cgroups().iter().for_each(|d| remove(d));
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
                bail!(
                    "droplet at {addr} did not answer SSH within {} s; boot output: {}",
                    timeout.as_secs(),
                    self.console_tail()
                );
            }
            if !self.running() {
                bail!(
                    "droplet at {addr} stopped while booting: {}",
                    self.console_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Shuts the droplet down cleanly: TERM to nspawn makes systemd stop
    /// every unit and power off. After a grace period the machine's PID 1
    /// (and with it every process in its PID namespace) and nspawn are
    /// killed. Leaves the network.
    pub fn power_off(&self) -> anyhow::Result<()> {
        if let Some(pid) = self.pid() {
            sys::signal(pid, Signal::SIGTERM);
            if !sys::wait_gone(pid, SHUTDOWN_GRACE) {
                if let Some(init) = container_init(pid) {
                    sys::signal(init, Signal::SIGKILL);
                }
                sys::signal(pid, Signal::SIGKILL);
                if !sys::wait_gone(pid, Duration::from_secs(5)) {
                    bail!("droplet process {pid} did not stop");
                }
            }
        }
        let _ = std::fs::remove_file(self.pid_file());
        self.remove_cgroups();
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

/// The machine's PID 1 as the host sees it: the descendant of `nspawn`
/// whose PID in its own namespace is 1.
fn container_init(nspawn: u32) -> Option<u32> {
    let mut queue = vec![nspawn];
    while let Some(pid) = queue.pop() {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            let status =
                std::fs::read_to_string(format!("/proc/{child}/status")).unwrap_or_default();
            let inner = status
                .lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .and_then(|ids| ids.split_whitespace().last());
            if inner == Some("1") && child != nspawn {
                return Some(child);
            }
            queue.push(child);
        }
    }
    None
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
