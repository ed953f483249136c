//! Cut connections at seeded random points (the droplet's veth goes down,
//! as a real network drop would), during deploys and during swaps. After
//! each cut: the live colour serves every request of a bounded loop, the
//! server's state.json agrees with its colour links and release dirs,
//! `current` is never dangling, the lock is released or reclaimable with
//! `--break-lock`, and a re-run completes. The seed is printed and can be
//! replayed with POND_CUT_SEED. Keepalives run every second here
//! (POND_SSH_KEEPALIVE_SECS=1) so each cut is noticed within ~4 s.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::deploy::{User, droplet, start, write};
use common::lab::Api;
use serde_json::json;

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() % 1_000_000) as f64 / 1_000_000.0 * (hi - lo)
    }
}

fn seed() -> u64 {
    let seed = std::env::var("POND_CUT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_125);
    eprintln!("cut points seeded with POND_CUT_SEED={seed}");
    seed
}

fn pond(user: &User, project: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pond"))
        .args(args)
        .arg("--project")
        .arg(project)
        .env("POND_CONFIG_DIR", user.config.path())
        .env("POND_SSH_KEEPALIVE_SECS", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn spawn(user: &User, project: &Path, args: &[&str]) -> std::thread::JoinHandle<Output> {
    let config = user.config.path().to_path_buf();
    let project = project.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    std::thread::spawn(move || {
        let child = Command::new(env!("CARGO_BIN_EXE_pond"))
            .args(&args)
            .arg("--project")
            .arg(&project)
            .env("POND_CONFIG_DIR", config)
            .env("POND_SSH_KEEPALIVE_SECS", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A cut must end in an error or success, never a hang: with 1 s
        // keepalives, 120 s is far beyond any honest run here.
        let pid = child.id().to_string();
        let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watchdog = {
            let finished = finished.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(120);
                while Instant::now() < deadline {
                    if finished.load(std::sync::atomic::Ordering::SeqCst) {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                let _ = Command::new("kill").arg(&pid).status();
                true
            })
        };
        let out = child.wait_with_output().unwrap();
        finished.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(
            !watchdog.join().unwrap(),
            "pond {args:?} hung for 120 s after a cut:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    })
}

fn cut(api: &Api, id: u64, seconds: f64) {
    api.ok(
        "POST",
        &format!("/_lab/droplets/{id}/cut"),
        Some(json!({"seconds": seconds})),
        200,
    );
}

/// Waits until the droplet answers on port 80 again.
fn wait_link(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect_timeout(
        &format!("{addr}:80").parse().unwrap(),
        Duration::from_millis(300),
    )
    .is_err()
    {
        assert!(Instant::now() < deadline, "{addr} did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `requests` GETs of the production host; all must be 200 with `body`.
fn serves_all(addr: &str, body: &str, requests: usize) -> usize {
    for i in 0..requests {
        let (status, got) = common::http_get(addr, "cuts.example.com", "/");
        assert_eq!(
            (status, got.as_str()),
            (200, body),
            "request {i} of {requests}"
        );
    }
    requests
}

/// The server's own truth is consistent: both colour links resolve to
/// existing releases that state.json names, `current` points at a colour
/// and state.json's live colour is that one. Returns the live colour.
fn consistent(user: &User, addr: &str) -> String {
    let key = user.config.path().join("id_ed25519");
    let check = r#"set -eu
root=/var/www/pond/projects/cuts/production
live="$(readlink "$root/current")"
case "$live" in blue|green) ;; *) echo "BAD current -> $live"; exit 1;; esac
[ -e "$root/current/" ] || { echo "BAD current is dangling"; exit 1; }
for c in blue green; do
  target="$(readlink -f "$root/$c")"
  [ -d "$target" ] || { echo "BAD $c -> $target is missing"; exit 1; }
  echo "LINK $c $(basename "$target")"
done
echo "LIVE $live"
echo "STATE $(tr -d '\n' < "$root/metadata/state.json")"
"#;
    let out = common::ssh(&key, addr, check);
    assert!(!out.contains("BAD"), "{out}");
    let live = out
        .lines()
        .find_map(|l| l.strip_prefix("LIVE "))
        .unwrap()
        .to_string();
    let state: serde_json::Value =
        serde_json::from_str(out.lines().find_map(|l| l.strip_prefix("STATE ")).unwrap()).unwrap();
    assert_eq!(
        state["live"],
        live.as_str(),
        "state.json's live colour: {out}"
    );
    for line in out.lines().filter_map(|l| l.strip_prefix("LINK ")) {
        let (colour, release) = line.split_once(' ').unwrap();
        assert_eq!(
            state["colours"][colour]["release"], release,
            "state.json's {colour} release matches its link: {out}"
        );
    }
    live
}

/// Re-runs a command after a cut: plainly, or reclaiming a lock the dead
/// session still holds. Returns whether the lock had to be broken.
fn rerun(user: &User, p: &Path, args: &[&str]) -> bool {
    let out = pond(user, p, args);
    if out.status.success() {
        return false;
    }
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.contains("holds the lock"),
        "re-run failed for another reason: {err}"
    );
    let mut breaking: Vec<&str> = args.to_vec();
    breaking.push("--break-lock");
    let out = pond(user, p, &breaking);
    assert!(
        out.status.success(),
        "re-run with --break-lock failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

fn setup(
    prefix: &str,
) -> (
    common::lab::LabDir,
    Api,
    User,
    tempfile::TempDir,
    u64,
    String,
) {
    common::require_root();
    let (lab, api, user) = start(prefix);
    let (id, addr) = droplet(&api, &user, "cuts-web");
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    User::init(&user, p, "cuts", "static");
    // Enough files that a deploy takes a moment, and a hook that sleeps.
    for i in 0..300 {
        write(
            p,
            &format!("assets/f{i:03}.txt"),
            &format!("asset {i}\n").repeat(200),
        );
    }
    write(p, "hook.sh", "sleep 1\n");
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap();
    file["hooks"]["post_deploy"] = json!(["hook.sh"]);
    std::fs::write(
        p.join("pond.json"),
        serde_json::to_string_pretty(&file).unwrap(),
    )
    .unwrap();
    write(p, "index.html", "v0");
    user.attach(p, &addr, "cuts.example.com");
    user.ok(p, &["provision", "production"]);
    user.ok(p, &["deploy", "production", "--tag", "v0"]);
    (lab, api, user, project, id, addr)
}

#[test]
fn deploys_cut_at_twenty_seeded_points_lose_nothing() {
    let (_lab, api, user, project, id, addr) = setup("pond-cuts-");
    let p = project.path();
    let mut rng = Rng(seed());
    let (mut requests, mut failed, mut reclaimed) = (0, 0, 0);
    for i in 1..=20 {
        write(p, "index.html", &format!("v{i}"));
        write(
            p,
            &format!("assets/f{:03}.txt", i % 300),
            &format!("changed in {i}\n"),
        );
        let deploying = spawn(
            &user,
            p,
            &["deploy", "production", "--tag", &format!("v{i}")],
        );
        let at = rng.between(0.2, 3.0);
        let length = rng.between(4.0, 6.0);
        std::thread::sleep(Duration::from_secs_f64(at));
        cut(&api, id, length);
        let cut_at = Instant::now();
        let out = deploying.join().unwrap();
        if !out.status.success() {
            failed += 1;
        }
        std::thread::sleep(Duration::from_secs_f64(length).saturating_sub(cut_at.elapsed()));
        wait_link(&addr);
        // The deploy never touches the live colour: still v0, every time.
        requests += serves_all(&addr, "v0", 25);
        assert_eq!(consistent(&user, &addr), "blue");
        if rerun(
            &user,
            p,
            &["deploy", "production", "--tag", &format!("v{i}-again")],
        ) {
            reclaimed += 1;
        }
        consistent(&user, &addr);
        let (_, green) =
            common::http_get(&addr, &format!("{}-green.cuts.example.com", secret(p)), "/");
        assert_eq!(green, format!("v{i}"), "the re-run's build is on green");
    }
    eprintln!(
        "20 cuts during deploys: {failed} deploys failed at the cut, {reclaimed} locks reclaimed, \
         {requests} requests to the live colour afterwards, all 200 with the live build"
    );
}

#[test]
fn swaps_cut_at_ten_seeded_points_leave_exactly_one_live_colour() {
    let (_lab, api, user, project, id, addr) = setup("pond-swapcuts-");
    let p = project.path();
    let mut rng = Rng(seed() ^ 0x5eed);
    let mut requests = 0;
    let mut live_build = "v0".to_string();
    for i in 1..=10 {
        write(p, "index.html", &format!("s{i}"));
        user.ok(p, &["deploy", "production", "--tag", &format!("s{i}")]);
        let swapping = spawn(&user, p, &["swap", "production"]);
        std::thread::sleep(Duration::from_secs_f64(rng.between(0.0, 1.2)));
        let length = rng.between(3.0, 5.0);
        cut(&api, id, length);
        let cut_at = Instant::now();
        let out = swapping.join().unwrap();
        std::thread::sleep(Duration::from_secs_f64(length).saturating_sub(cut_at.elapsed()));
        wait_link(&addr);
        // Exactly one colour is live and it serves one whole build: the old
        // one (the cut came first) or the new one (the swap landed).
        consistent(&user, &addr);
        let (_, body) = common::http_get(&addr, "cuts.example.com", "/");
        assert!(
            body == live_build || body == format!("s{i}"),
            "served {body:?}"
        );
        if out.status.success() {
            assert_eq!(
                body,
                format!("s{i}"),
                "a swap that reported success is live"
            );
        }
        requests += serves_all(&addr, &body, 25);
        live_build = body;
        if live_build != format!("s{i}") {
            // The swap did not land: re-running it does.
            rerun(&user, p, &["swap", "production"]);
            consistent(&user, &addr);
            requests += serves_all(&addr, &format!("s{i}"), 5);
            live_build = format!("s{i}");
        }
    }
    eprintln!(
        "10 cuts during swaps: {requests} requests afterwards, all 200, one live colour each time"
    );
}

fn secret(p: &Path) -> String {
    common::deploy::secret_prefix(p)
}
