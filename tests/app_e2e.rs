//! The real desktop app, end to end: the release-shaped build of the app in
//! its WebKitGTK window, driven through tauri-driver + WebKitWebDriver under
//! the job's X display, against the lab and a real Secret Service. Add an
//! account → the wizard creates and provisions a lab droplet → deploy a
//! change → swap → roll back, checking what the server serves over HTTP at
//! each step. Screenshots of each screen go to target/test-artifacts/e2e/.
//!
//! Needs the built app (`cargo build -p pond-app --features
//! custom-protocol`), `tauri-driver` and `WebKitWebDriver` on PATH, and
//! `$DISPLAY`; `scripts/dev test` runs it after building the app:
//! `cargo nextest run -p pond --run-ignored only --test app_e2e`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::deploy::{read_pond_json, write};
use common::keyring::SecretService;
use common::lab::{LabDir, lab_up};
use common::webdriver::Driver;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "tauri-driver did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn shot(driver: &Driver, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/e2e");
    driver.screenshot(&dir.join(format!("{name}.png")));
}

#[test]
#[ignore = "needs the built app, tauri-driver and a display; scripts/dev test runs it after building the app"]
fn the_app_creates_deploys_swaps_and_rolls_back_on_the_lab() {
    common::require_root();
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "DISPLAY must be set (scripts/dev starts Xvfb)"
    );
    let app: PathBuf = std::env::var_os("POND_APP")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debug/pond-app"));
    assert!(app.exists(), "no app at {}", app.display());

    let lab = LabDir::new("pond-e2e-");
    let api = lab_up(&lab.0);
    // The registrar's side: the domain is delegated to DigitalOcean.
    api.ok(
        "PUT",
        "/_lab/delegations/e2e.example.com",
        Some(serde_json::json!({"nameservers": ["ns1.digitalocean.com", "ns2.digitalocean.com", "ns3.digitalocean.com"]})),
        200,
    );
    let keyring = SecretService::start();
    let config = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let init = Command::new(env!("CARGO_BIN_EXE_pond"))
        .args(["init", "--name", "e2e-site", "--stack", "static", "--dir"])
        .arg(p)
        .output()
        .unwrap();
    assert!(init.status.success());
    write(p, "index.html", "version one");

    let port = free_port();
    let native = free_port();
    let mut cmd = Command::new("tauri-driver");
    keyring.env(&mut cmd);
    let _driver_process = Killed(
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native.to_string(),
        ])
        .env("POND_CONFIG_DIR", config.path())
        // WebKitWebDriver takes screenshots through the compositor, which
        // the app turns off by default (see src-tauri's main): keep it on.
        .env("POND_WEBKIT_COMPOSITING", "1")
        .env_remove("WEBKIT_DISABLE_COMPOSITING_MODE")
        .env_remove("POND_DO_TOKEN")
        .env_remove("POND_LAB_TOKEN")
        .env_remove("POND_LAB_API_URL")
        .env("POND_DNS_RESOLVER", &api.dns)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tauri-driver (cargo install tauri-driver --locked)"),
    );
    wait_port(port);
    let d = Driver::start(&format!("http://127.0.0.1:{port}"), app.to_str().unwrap());
    let long = Duration::from_secs(600);

    // Settings: add the lab's account; the token goes to the keychain.
    d.wait_text("Open a project", Duration::from_secs(30));
    shot(&d, "1-projects");
    d.click(&d.button("Settings"));
    d.fill("Name", "lab");
    d.fill("API URL", &format!("{}/v2", api.url));
    d.fill("Token", &api.token);
    // Its certificates come from the lab's CA.
    d.click(&d.wait_xpath(
        "//summary[normalize-space()='Certificates']",
        Duration::from_secs(10),
    ));
    d.fill("ACME directory", &api.acme_directory);
    d.fill("CA file the servers trust to reach it", &api.acme_ca);
    d.click(&d.button("Check and add"));
    d.wait_text(
        "Added lab; the token is in your keychain.",
        Duration::from_secs(30),
    );
    assert!(
        !d.text_of_body().contains(&api.token),
        "the token is never shown"
    );
    shot(&d, "2-settings");

    // Open the project: no environments yet → the wizard.
    d.click(&d.button("Projects"));
    d.fill("Project folder", p.to_str().unwrap());
    d.click(&d.button("Open"));
    d.wait_text("No environments yet", Duration::from_secs(20));
    d.click(&d.button("New server…"));
    d.wait_text(
        "Which DigitalOcean account pays for it?",
        Duration::from_secs(20),
    );
    let account = d.wait_xpath(
        "//input[@type='radio' and @value='lab']",
        Duration::from_secs(20),
    );
    d.click(&account);
    d.click(&d.button("Next"));
    d.wait_text("The environment", Duration::from_secs(20));
    d.click(&d.button("Next"));
    d.wait_text("Where and how big", Duration::from_secs(30));
    d.click(&d.button("Advanced"));
    let image = d.wait_xpath(
        "//select/option[@value='debian-13-x64']",
        Duration::from_secs(20),
    );
    d.click(&image);
    d.click(&d.button("Next"));
    d.fill("Domain", "e2e.example.com");
    d.wait_text("Pond will add it", Duration::from_secs(20));
    d.wait_text(
        "e2e.example.com is delegated to DigitalOcean",
        Duration::from_secs(20),
    );
    shot(&d, "3-wizard-domain");
    for expect in [
        "A static site needs no database.",
        "Bring data along",
        "Build and preview",
        "Pond will",
    ] {
        d.click(&d.button("Next"));
        d.wait_text(expect, Duration::from_secs(30));
    }
    d.wait_text("about $6.00/month", Duration::from_secs(5));
    shot(&d, "4-wizard-review");
    d.click(&d.button("Create server"));
    d.wait_text("production is live", long);
    // Both the domain and the preview hosts came up on HTTPS.
    d.wait_text("https://e2e.example.com/", Duration::from_secs(10));
    assert!(
        !d.text_of_body().contains("HTTPS is not set up yet"),
        "{}",
        d.text_of_body()
    );
    shot(&d, "5-wizard-done");

    let file = read_pond_json(p);
    let env = &file["environments"][0];
    let address = env["droplets"][0]["address"].as_str().unwrap().to_string();
    let prefix = env["secret_prefix"].as_str().unwrap().to_string();
    assert!(
        env["droplets"][0]["host_key"]
            .as_str()
            .unwrap()
            .starts_with("SHA256:")
    );
    assert_eq!(
        common::browse(&address, "e2e.example.com", "/", &api.ca_root).1,
        "version one"
    );

    // The status panel, then deploy a change to green.
    d.click(&d.button("Done"));
    d.wait_text("Deploy to green", Duration::from_secs(60));
    d.wait_text("Updated", Duration::from_secs(60));
    shot(&d, "6-status");
    write(p, "index.html", "version two");
    d.click(&d.button("Deploy to green"));
    d.wait_text("1 file to send", Duration::from_secs(60));
    shot(&d, "7-deploy-plan");
    d.click(&d.button("Deploy"));
    d.wait_text("Deployed to green. Preview it, then swap.", long);
    let green = format!("{prefix}-green.e2e.example.com");
    assert_eq!(common::http_get(&address, &green, "/").1, "version two");
    assert_eq!(
        common::browse(&address, "e2e.example.com", "/", &api.ca_root).1,
        "version one",
        "live is untouched"
    );

    // Swap, after the health check the dialog shows.
    d.click(&d.button("Swap…"));
    d.wait_text("HTTP 200 healthy", Duration::from_secs(60));
    // The engine's own plan for the swap, as `pond swap --dry-run` prints it.
    d.wait_text("What runs: swap production: green goes live", long);
    shot(&d, "8-swap-dialog");
    d.click(&d.button("Swap to green"));
    d.wait_text("green is live on production.", long);
    assert_eq!(
        common::browse(&address, "e2e.example.com", "/", &api.ca_root).1,
        "version two"
    );
    shot(&d, "9-swapped");

    // Roll back: the dialog says the data stays (this project has no
    // pre-swap hooks) and shows the engine's plan, as `pond rollback
    // --dry-run` prints it; one more click.
    d.click(&d.button("Roll back…"));
    d.wait_text("What runs: rollback production: blue goes live", long);
    d.click(&d.button("Roll back"));
    d.wait_text("Rolled back: blue is live again.", long);
    assert_eq!(
        common::browse(&address, "e2e.example.com", "/", &api.ca_root).1,
        "version one"
    );
    shot(&d, "10-rolled-back");
    // The servers' logs as the app reads them (`tasks::logs`, as `pond
    // logs` does): the deploy log, which records the rollback.
    d.click(&d.button("Log"));
    d.wait_text("metadata/log.jsonl <==", long);
    d.wait_text("\"op\":\"rollback\"", Duration::from_secs(10));
    shot(&d, "11-logs");
    d.quit();
}
