//! Lab machines without the API: boot three droplets from the cached base
//! at once, reach each over SSH with its own host key, and tear everything
//! down without leaving a process, mount, namespace or interface.

mod common;

use std::time::{Duration, Instant};

use pond::lab::{base, machine, net::LabNet};

/// Destroys the machines even when an assertion fails half-way.
struct Teardown(Vec<machine::Machine>);

impl Drop for Teardown {
    fn drop(&mut self) {
        for m in &self.0 {
            let _ = m.destroy();
        }
        if let Some(m) = self.0.first() {
            let _ = m.net.remove_bridge();
        }
    }
}

#[test]
fn three_droplets_boot_serve_ssh_and_leave_nothing_behind() {
    common::require_root();
    let cache = common::cache_dir();
    let base = base::ensure_base(&cache, &|m| eprintln!("{m}")).unwrap();
    let dir = tempfile::Builder::new()
        .prefix("pond-lab-test-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let id = pond::lab::lab_id(dir.path());
    let net = LabNet::claim(&id, None).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = common::keypair(keys.path(), "tester");

    let machines = Teardown(
        (2..5u8)
            .map(|slot| machine::Machine {
                dir: dir.path().join(format!("droplets/{slot}")),
                base: base.clone(),
                net: net.clone(),
                slot,
            })
            .collect(),
    );
    let started = Instant::now();
    std::thread::scope(|s| {
        for m in &machines.0 {
            let public = public.clone();
            s.spawn(move || {
                let spec = machine::MachineSpec {
                    hostname: format!("web-{}", m.slot),
                    authorized_keys: vec![public],
                };
                m.prepare(&spec).unwrap();
                m.boot().unwrap();
                m.wait_ssh(Duration::from_secs(20)).unwrap();
            });
        }
    });
    eprintln!("3 droplets booted to SSH in {:?}", started.elapsed());

    let mut fingerprints = vec![];
    for m in &machines.0 {
        let address = m.net.droplet_address(m.slot).to_string();
        let out = common::ssh(
            &key,
            &address,
            "hostname; id -u; cat /proc/1/cmdline | tr '\\0' ' '",
        );
        assert_eq!(
            out,
            format!(
                "web-{}\n0\n/bin/bash /usr/local/sbin/pond-lab-init ",
                m.slot
            )
        );
        let presented = common::presented_host_key(&address);
        assert_eq!(presented, m.host_key_fingerprint().unwrap());
        fingerprints.push(presented);
    }
    fingerprints.sort();
    fingerprints.dedup();
    assert_eq!(fingerprints.len(), 3, "host keys must differ per droplet");

    // A droplet reaches the host but has no route anywhere else.
    let address = machines.0[0].net.droplet_address(2).to_string();
    let routes = common::ssh(&key, &address, "ip -4 route");
    assert!(!routes.contains("default"), "{routes}");

    let pids: Vec<u32> = machines.0.iter().map(|m| m.pid().unwrap()).collect();
    for m in &machines.0 {
        m.destroy().unwrap();
    }
    net.remove_bridge().unwrap();
    for pid in pids {
        assert!(!pond::lab::sys::alive(pid), "process {pid} survived");
    }
    assert_eq!(net.leftovers(), Vec::<String>::new());
    assert_eq!(machine::mounts_under(dir.path()), Vec::<String>::new());
}
