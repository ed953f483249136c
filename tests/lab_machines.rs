//! Lab machines without the API: boot three droplets (two images) from the
//! cached bases at once, each with systemd as PID 1, reach each over SSH
//! with its own host key, power one off cleanly and on again, and tear
//! everything down without leaving a process, mount, namespace or
//! interface.

mod common;

use std::time::{Duration, Instant};

use pond_lab::{base, machine, net::LabNet};

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
    let image_of = |slot: u8| {
        base::image(if slot == 4 {
            "debian-12-x64"
        } else {
            "debian-13-x64"
        })
        .unwrap()
    };
    for slug in ["debian-13-x64", "debian-12-x64"] {
        let started = Instant::now();
        base::ensure_base(&cache, base::image(slug).unwrap(), &|m| eprintln!("{m}")).unwrap();
        eprintln!("base {slug} ready in {:?}", started.elapsed());
    }
    let dir = tempfile::Builder::new()
        .prefix("pond-lab-test-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let id = pond_lab::lab_id(dir.path());
    let net = LabNet::claim(&id, None).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = common::keypair(keys.path(), "tester");

    let machines = Teardown(
        (2..5u8)
            .map(|slot| machine::Machine {
                dir: dir.path().join(format!("droplets/{slot}")),
                base: base::base_dir(&cache, image_of(slot)),
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
            "hostname; id -u; readlink /proc/1/exe; . /etc/os-release; echo $VERSION_ID; \
             systemctl is-system-running --wait; journalctl -b -q --no-pager -n 1 -o cat _PID=1 | wc -l",
        );
        let version = if m.slot == 4 { "12" } else { "13" };
        assert_eq!(
            out,
            format!(
                "web-{}\n0\n/usr/lib/systemd/systemd\n{version}\nrunning\n1\n",
                m.slot
            ),
            "systemd is PID 1 and every unit started; journald has its messages"
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

    // power off stops the units (systemd shuts down), power on boots again.
    let first = &machines.0[0];
    let off = Instant::now();
    first.power_off().unwrap();
    eprintln!("clean power-off in {:?}", off.elapsed());
    assert!(!first.running());
    let on = Instant::now();
    first.boot().unwrap();
    first.wait_ssh(Duration::from_secs(20)).unwrap();
    eprintln!("power-on to SSH in {:?}", on.elapsed());
    let last_boot = common::ssh(
        &key,
        &address,
        "journalctl -b -1 -q --no-pager -o cat _PID=1 | grep -cx 'Shutting down.'",
    );
    assert_eq!(
        last_boot.trim(),
        "1",
        "the previous boot ended in a clean shutdown"
    );

    let pids: Vec<u32> = machines.0.iter().map(|m| m.pid().unwrap()).collect();
    for m in &machines.0 {
        m.destroy().unwrap();
    }
    net.remove_bridge().unwrap();
    for pid in pids {
        assert!(!pond_lab::sys::alive(pid), "process {pid} survived");
    }
    assert_eq!(net.leftovers(), Vec::<String>::new());
    assert_eq!(machine::mounts_under(dir.path()), Vec::<String>::new());
}
