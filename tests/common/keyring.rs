//! A real Secret Service for a test: a private D-Bus session bus and an
//! unlocked gnome-keyring on it, both children of the test, stopped by PID
//! on drop. Nothing touches the user's own keyring.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SecretService {
    dbus: Child,
    keyring: Child,
    pub bus: String,
    pub dir: tempfile::TempDir,
}

impl SecretService {
    pub fn start() -> SecretService {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        // A bus with no service directories: nothing is auto-started on it
        // (a default session bus would launch a second keyring daemon with
        // the test's real HOME if a client asked before ours registered).
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                "<busconfig><type>session</type><listen>unix:path={}</listen>\
                 <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>",
                dir.path().join("bus").display()
            ),
        )
        .unwrap();
        let mut dbus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon (apt install dbus-daemon)");
        let mut bus = String::new();
        BufReader::new(dbus.stdout.take().unwrap())
            .read_line(&mut bus)
            .unwrap();
        let bus = bus.trim().to_string();
        assert!(bus.starts_with("unix:"), "dbus-daemon printed {bus:?}");
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &bus)
            .env("XDG_RUNTIME_DIR", &run)
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("HOME", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon (apt install gnome-keyring)");
        {
            let mut stdin = keyring.stdin.take().unwrap();
            stdin.write_all(b"lab-keyring-password").unwrap();
        }
        let service = SecretService {
            dbus,
            keyring,
            bus,
            dir,
        };
        service.wait_until_serving();
        service
    }

    /// Applies this bus to a command (and points its HOME at the temp dir).
    pub fn env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .env("XDG_RUNTIME_DIR", self.dir.path().join("run"))
    }

    fn wait_until_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self
                .env(Command::new("secret-tool").args(["search", "service", "pond-probe"]))
                .output()
                .expect("secret-tool (apt install libsecret-tools)");
            // Exit 1 with no output = searched and found nothing: serving.
            if out.stderr.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Secret Service did not come up: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `pond ARGS` on this bus with its own config dir, `stdin` piped
    /// in, and no token or keychain choice inherited from the environment
    /// (plus `env`).
    pub fn pond(
        &self,
        config: &std::path::Path,
        args: &[&str],
        stdin: &str,
        env: &[(&str, &str)],
    ) -> std::process::Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pond"));
        self.env(&mut cmd)
            .args(args)
            .env("POND_CONFIG_DIR", config)
            .env_remove("POND_DO_TOKEN")
            .env_remove("POND_KEYCHAIN")
            .env_remove("POND_LAB_TOKEN")
            .env_remove("POND_LAB_API_URL")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// What `secret-tool search` finds for these attributes (its stdout).
    pub fn search(&self, attributes: &[&str]) -> String {
        let out = self
            .env(
                Command::new("secret-tool")
                    .arg("search")
                    .arg("--all")
                    .args(attributes),
            )
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        let _ = self.keyring.kill();
        let _ = self.keyring.wait();
        let _ = self.dbus.kill();
        let _ = self.dbus.wait();
    }
}
