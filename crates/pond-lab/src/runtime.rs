//! The running lab: the fake API's state, the droplet machines behind it,
//! injected faults, and the load balancers' listeners. API handlers call the
//! methods here; machine work (boot, power, teardown) runs on blocking
//! threads so the API stays responsive.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::api::state::{Droplet, LabState};
use super::machine::{Machine, MachineSpec};
use super::net::LabNet;

/// How long a booting droplet may take to answer SSH before its create
/// action is marked errored.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// Faults injected into the API and the droplets (set through
/// `POST /_lab/faults`); each count is consumed as it fires.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// The next N API requests get 429 with a `ratelimit-reset`.
    pub rate_limit: u32,
    /// Seconds until the reset those 429s announce (default 1).
    pub rate_limit_reset_seconds: u64,
    /// The next N API requests fail with `server_error_status`.
    pub server_errors: u32,
    /// 500 or 503 (default 500).
    pub server_error_status: u16,
    /// The next N droplets created never become active.
    pub never_active: u32,
    /// Every API response is delayed by this many milliseconds.
    pub slow_ms: u64,
    /// The next N droplet creations happen, but their reply is lost: the
    /// client gets a 500 as if the request had failed.
    pub lost_create_replies: u32,
}

/// The machine of droplet `d` of the lab in `dir`.
pub fn machine_of(
    dir: &std::path::Path,
    cache: &std::path::Path,
    net: &LabNet,
    d: &Droplet,
) -> Machine {
    let image = super::base::image(&d.image).unwrap_or(&super::base::IMAGES[0]);
    Machine {
        dir: dir.join("droplets").join(d.id.to_string()),
        base: super::base::base_dir(cache, image),
        net: net.clone(),
        slot: d.slot,
    }
}

/// Builds the base of a droplet's image if it is not cached yet (the lab
/// builds its default image when it starts, others on first use).
fn ensure_image(cache: &std::path::Path, slug: &str) -> anyhow::Result<()> {
    let image =
        super::base::image(slug).with_context(|| format!("the lab cannot boot image {slug:?}"))?;
    super::base::ensure_base(cache, image, &|m| eprintln!("lab: {m}"))?;
    Ok(())
}

pub struct Lab {
    pub dir: PathBuf,
    pub net: LabNet,
    /// Where the images' bases are cached (`base::base_dir`).
    pub cache: PathBuf,
    pub tokens: Vec<String>,
    pub state: Mutex<LabState>,
    pub faults: std::sync::Mutex<Faults>,
    /// Public base URL of the API, e.g. `http://127.0.0.1:41234`.
    pub base_url: std::sync::OnceLock<String>,
    /// Name-server delegations the lab's DNS answers (zone → name servers),
    /// set through `/_lab/delegations/{zone}`: the registrar's side of a
    /// domain, which DigitalOcean's API does not manage.
    pub delegations: std::sync::Mutex<std::collections::BTreeMap<String, Vec<String>>>,
    /// The lab's CA, once started: where `/v2/certificates` orders.
    pub acme: std::sync::OnceLock<super::issuer::Endpoint>,
    lb_tasks: std::sync::Mutex<HashMap<String, Vec<tokio::task::JoinHandle<()>>>>,
}

impl Lab {
    pub fn new(
        dir: PathBuf,
        net: LabNet,
        cache: PathBuf,
        tokens: Vec<String>,
    ) -> anyhow::Result<Lab> {
        let state_path = dir.join("state.json");
        let state = match std::fs::read_to_string(&state_path) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("reading {}", state_path.display()))?,
            Err(_) => LabState::default(),
        };
        Ok(Lab {
            dir,
            net,
            cache,
            tokens,
            state: Mutex::new(state),
            faults: std::sync::Mutex::new(Faults::default()),
            base_url: std::sync::OnceLock::new(),
            delegations: std::sync::Mutex::new(Default::default()),
            acme: std::sync::OnceLock::new(),
            lb_tasks: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Writes the state atomically; called after every change.
    pub fn save(&self, state: &LabState) {
        let text = serde_json::to_vec_pretty(state).expect("state serializes");
        if let Err(e) = crate::sys::write_private(&self.dir.join("state.json"), &text) {
            eprintln!("lab: cannot save state.json: {e}");
        }
    }

    pub fn machine(&self, d: &Droplet) -> Machine {
        machine_of(&self.dir, &self.cache, &self.net, d)
    }

    /// Consumes one "never active" fault, if any is armed.
    /// Whether this droplet creation's reply is to be lost (one fault used).
    pub fn take_lost_create_reply(&self) -> bool {
        let mut f = self.faults.lock().expect("faults lock");
        if f.lost_create_replies > 0 {
            f.lost_create_replies -= 1;
            true
        } else {
            false
        }
    }

    pub fn take_never_active(&self) -> bool {
        let mut f = self.faults.lock().expect("faults lock");
        if f.never_active > 0 {
            f.never_active -= 1;
            true
        } else {
            false
        }
    }

    /// Boots a droplet's machine in the background; when SSH answers, the
    /// droplet becomes `active` and the action (if any) completes.
    pub fn boot_in_background(self: &Arc<Self>, droplet: Droplet, action: Option<u64>) {
        let lab = Arc::clone(self);
        tokio::spawn(async move {
            if droplet.never_active {
                return;
            }
            let machine = lab.machine(&droplet);
            let spec = MachineSpec {
                hostname: droplet.name.clone(),
                authorized_keys: droplet.authorized_keys.clone(),
            };
            let (cache, image) = (lab.cache.clone(), droplet.image.clone());
            let result =
                tokio::task::spawn_blocking(move || start(&cache, &image, &machine, &spec))
                    .await
                    .map_err(anyhow::Error::from)
                    .and_then(|r| r);
            let mut state = lab.state.lock().await;
            if state.droplet(droplet.id).is_none() {
                // Deleted while it booted: the delete found no machine yet,
                // so this one is removed now rather than left running.
                drop(state);
                let machine = lab.machine(&droplet);
                let _ = tokio::task::spawn_blocking(move || machine.destroy()).await;
                return;
            }
            let ok = result.is_ok();
            if let Err(e) = result {
                eprintln!(
                    "lab: droplet {} ({}) failed to boot: {e:#}",
                    droplet.id, droplet.name
                );
            }
            if let Some(d) = state.droplet_mut(droplet.id)
                && ok
            {
                d.status = "active".into();
            }
            if let Some(a) = action {
                state.finish_action(a, ok);
            }
            lab.save(&state);
        });
    }

    /// Powers a droplet off (blocking work on a thread).
    pub async fn power_off(&self, droplet: &Droplet) -> anyhow::Result<()> {
        let machine = self.machine(droplet);
        tokio::task::spawn_blocking(move || machine.power_off()).await?
    }

    /// Boots every droplet recorded as `new` or `active` (after `lab up`)
    /// and waits for them.
    pub async fn resume_droplets(self: &Arc<Self>) -> anyhow::Result<()> {
        let droplets: Vec<Droplet> = {
            let state = self.state.lock().await;
            state
                .droplets
                .iter()
                .filter(|d| d.status != "off" && !d.never_active)
                .cloned()
                .collect()
        };
        let mut handles = vec![];
        for d in droplets {
            let machine = self.machine(&d);
            let spec = MachineSpec {
                hostname: d.name.clone(),
                authorized_keys: d.authorized_keys.clone(),
            };
            let (cache, image) = (self.cache.clone(), d.image.clone());
            handles.push((
                d.id,
                tokio::task::spawn_blocking(move || start(&cache, &image, &machine, &spec)),
            ));
        }
        // Wait for the boots without holding the state: the API and the
        // DNS answer meanwhile.
        // One droplet that does not boot (an image this lab no longer has,
        // a disk made on an older base) is reported and left off; the lab
        // and the others come up, and it can be deleted through the API.
        let mut outcomes = vec![];
        for (id, h) in handles {
            let result = h.await.map_err(anyhow::Error::from).and_then(|r| r);
            if let Err(e) = &result {
                eprintln!("lab: droplet {id} did not boot, left off: {e:#}");
            }
            outcomes.push((id, result.is_ok()));
        }
        let mut state = self.state.lock().await;
        for (id, ok) in outcomes {
            if let Some(d) = state.droplet_mut(id) {
                d.status = if ok { "active" } else { "off" }.into();
            }
        }
        self.save(&state);
        Ok(())
    }

    /// Powers off and unmounts every droplet, keeping their disks and
    /// records (for `lab down`).
    pub async fn shut_down_all(&self) {
        let droplets = self.state.lock().await.droplets.clone();
        let stops: Vec<_> = droplets
            .iter()
            .map(|d| {
                let machine = self.machine(d);
                (
                    d.id,
                    tokio::task::spawn_blocking(move || machine.shut_down()),
                )
            })
            .collect();
        for (id, stop) in stops {
            if let Ok(Err(e)) | Err(e) = stop.await.map_err(anyhow::Error::from) {
                eprintln!("lab: stopping droplet {id}: {e:#}");
            }
        }
        self.stop_all_load_balancers().await;
    }

    /// Starts a load balancer's listeners on its lab address, one per
    /// forwarding rule (`lb_proxy`): an `https` rule's certificate must be
    /// issued, and `redirect_http_to_https` turns the `http` rules into
    /// redirects.
    pub async fn start_load_balancer(self: &Arc<Self>, lb_id: &str) -> anyhow::Result<()> {
        // Certificates are checked before the running listeners stop.
        let (slot, rules) = {
            let state = self.state.lock().await;
            let lb = state
                .load_balancers
                .iter()
                .find(|l| l.id == lb_id)
                .context("no such load balancer")?;
            let mut rules = vec![];
            for rule in &lb.forwarding_rules {
                let entry = rule["entry_port"].as_u64().unwrap_or(80) as u16;
                let target = rule["target_port"].as_u64().unwrap_or(80) as u16;
                let mode = match rule["entry_protocol"].as_str() {
                    Some("https") => {
                        let id = rule["certificate_id"].as_str().unwrap_or_default();
                        let cert = state
                            .certificates
                            .iter()
                            .find(|c| c.id == id && c.state == "verified")
                            .with_context(|| format!("certificate {id:?} is not issued"))?;
                        super::lb_proxy::Mode::Tls(super::lb_proxy::acceptor(
                            &cert.chain_pem,
                            &cert.key_pem,
                        )?)
                    }
                    Some("http") if lb.redirect_http_to_https => super::lb_proxy::Mode::Redirect,
                    Some("http") => super::lb_proxy::Mode::Http,
                    _ => super::lb_proxy::Mode::Bytes,
                };
                rules.push((entry, target, mode));
            }
            (lb.slot, rules)
        };
        self.stop_load_balancer(lb_id).await;
        let address = self.net.lb_address(slot);
        let bridge = self.net.bridge();
        let cidr = format!("{address}/24");
        tokio::task::spawn_blocking(move || {
            let shown = super::sys::run(
                std::process::Command::new("ip").args(["-4", "-o", "addr", "show", "dev", &bridge]),
            )?;
            if !shown.contains(&cidr) {
                super::sys::run(
                    std::process::Command::new("ip").args(["addr", "add", &cidr, "dev", &bridge]),
                )?;
            }
            anyhow::Ok(())
        })
        .await??;
        let mut tasks = vec![];
        for (entry, target, mode) in rules {
            let listener = tokio::net::TcpListener::bind((address, entry))
                .await
                .with_context(|| format!("binding the load balancer to {address}:{entry}"))?;
            tasks.push(tokio::spawn(super::lb_proxy::serve(
                Arc::clone(self),
                lb_id.to_string(),
                listener,
                mode,
                entry,
                target,
            )));
        }
        self.lb_tasks
            .lock()
            .expect("lb lock")
            .insert(lb_id.to_string(), tasks);
        Ok(())
    }

    pub async fn stop_load_balancer(&self, lb_id: &str) {
        if let Some(tasks) = self.lb_tasks.lock().expect("lb lock").remove(lb_id) {
            for t in tasks {
                t.abort();
            }
        }
    }

    async fn stop_all_load_balancers(&self) {
        let ids: Vec<String> = self
            .lb_tasks
            .lock()
            .expect("lb lock")
            .keys()
            .cloned()
            .collect();
        for id in ids {
            self.stop_load_balancer(&id).await;
        }
    }
}

/// Prepares and boots a droplet's machine, its resolver pointed at the
/// lab's DNS, and waits for its SSH. Blocking.
fn start(
    cache: &std::path::Path,
    image: &str,
    machine: &Machine,
    spec: &MachineSpec,
) -> anyhow::Result<()> {
    ensure_image(cache, image)?;
    machine.prepare(spec)?;
    point_resolver(&machine.root(), machine.net.host_address())?;
    machine.boot()?;
    machine.wait_ssh(BOOT_TIMEOUT)
}

/// Writes the droplet's `/etc/resolv.conf`: the lab's DNS on the bridge
/// (authoritative for the API's domains, refusing the rest). A new file
/// is renamed over the old one, so a link the droplet left there is
/// replaced, never followed out of its root.
pub fn point_resolver(root: &std::path::Path, server: std::net::Ipv4Addr) -> anyhow::Result<()> {
    let text = format!(
        "# The lab's DNS (pond lab): the API's domains; other names are refused.\nnameserver {server}\n"
    );
    super::guest_fs::write(root, "etc/resolv.conf", text.as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resolver_replaces_a_planted_link_without_following_it() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("etc/resolv.conf")).unwrap();
        point_resolver(root.path(), "198.18.7.1".parse().unwrap()).unwrap();
        let written = std::fs::read_to_string(root.path().join("etc/resolv.conf")).unwrap();
        assert!(written.ends_with("\nnameserver 198.18.7.1\n"), "{written}");
        assert_eq!(std::fs::read_to_string(outside.path()).unwrap(), "");
        assert!(
            !std::fs::symlink_metadata(root.path().join("etc/resolv.conf"))
                .unwrap()
                .is_symlink()
        );
    }
}
