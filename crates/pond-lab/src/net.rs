//! The lab's host-side network: one bridge per lab in 198.18.0.0/15, one
//! network namespace and veth pair per droplet, no default route and no
//! forwarding, so droplets reach nothing but the host.

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::bail;

use super::sys;

/// Names and addresses of one lab's network, derived from its lab id so
/// several labs (a developer's and a test run's) can coexist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabNet {
    /// Short hex id of the lab (from its directory).
    pub id: String,
    /// Third octet of the lab subnet 198.18.<octet>.0/24.
    pub octet: u8,
}

impl LabNet {
    /// The network of the lab whose id is `id` (4 hex digits).
    pub fn new(id: &str) -> LabNet {
        let n = u16::from_str_radix(id, 16).unwrap_or(0);
        LabNet {
            id: id.to_string(),
            octet: (n % 250) as u8 + 1,
        }
    }

    /// A lab's network with a known subnet octet.
    pub fn with_octet(id: &str, octet: u8) -> LabNet {
        LabNet {
            id: id.to_string(),
            octet,
        }
    }

    /// Finds a free /24 for this lab (its existing bridge's, else the
    /// `preferred` octet, else the one derived from its id, else the next
    /// free one) and creates the bridge, under a machine-wide lock so two
    /// labs starting at once never pick the same subnet.
    pub fn claim(id: &str, preferred: Option<u8>) -> anyhow::Result<LabNet> {
        let lock = std::fs::File::create("/run/pond-lab-net.lock")?;
        lock.lock()?;
        let derived = LabNet::new(id);
        let bridge = derived.bridge();
        if link_exists(&bridge)
            && let Ok(out) =
                sys::run(Command::new("ip").args(["-4", "-o", "addr", "show", "dev", &bridge]))
            && let Some(octet) = out.split_whitespace().find_map(|w| {
                w.strip_prefix("198.18.")
                    .and_then(|r| r.split('.').next()?.parse::<u8>().ok())
            })
        {
            return Ok(LabNet::with_octet(id, octet));
        }
        let candidates = preferred
            .into_iter()
            .chain(derived.octet..=250)
            .chain(1..derived.octet);
        for octet in candidates {
            if (1..=250).contains(&octet) && subnet_user(octet).is_none() {
                let net = LabNet::with_octet(id, octet);
                net.ensure_bridge()?;
                return Ok(net);
            }
        }
        bail!("no free /24 is left in 198.18.0.0/16 for another lab; stop one with `pond lab down`")
    }

    pub fn bridge(&self) -> String {
        format!("pond{}", self.id)
    }

    /// The host's address on the bridge: droplets' apt proxy and gateway.
    pub fn host_address(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.octet, 1)
    }

    /// The address of the droplet in `slot` (2..=249).
    pub fn droplet_address(&self, slot: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.octet, slot)
    }

    /// A load balancer's address on the bridge (slots 250..=254).
    pub fn lb_address(&self, slot: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.octet, slot)
    }

    pub fn netns(&self, slot: u8) -> String {
        format!("pond-{}-{slot}", self.id)
    }

    /// Host end of a droplet's veth pair (at most 15 characters).
    pub fn veth_host(&self, slot: u8) -> String {
        format!("pv{}h{slot}", self.id)
    }

    fn veth_peer(&self, slot: u8) -> String {
        format!("pv{}d{slot}", self.id)
    }

    /// Creates the bridge with the host address (idempotent).
    pub fn ensure_bridge(&self) -> anyhow::Result<()> {
        let br = self.bridge();
        if !link_exists(&br) {
            if let Some(other) = subnet_user(self.octet) {
                bail!(
                    "the lab subnet 198.18.{}.0/24 is already used by interface {other}",
                    self.octet
                );
            }
            sys::run(Command::new("ip").args(["link", "add", "name", &br, "type", "bridge"]))?;
        }
        let addr = format!("{}/24", self.host_address());
        let shown = sys::run(Command::new("ip").args(["-4", "-o", "addr", "show", "dev", &br]))?;
        if !shown.contains(&addr) {
            sys::run(Command::new("ip").args(["addr", "add", &addr, "dev", &br]))?;
        }
        sys::run(Command::new("ip").args(["link", "set", &br, "up"]))?;
        Ok(())
    }

    /// Removes the bridge (droplet veths must be gone first).
    pub fn remove_bridge(&self) -> anyhow::Result<()> {
        let br = self.bridge();
        if link_exists(&br) {
            sys::run(Command::new("ip").args(["link", "del", &br]))?;
        }
        Ok(())
    }

    /// Creates the droplet's namespace and veth pair with its address.
    pub fn attach(&self, slot: u8) -> anyhow::Result<()> {
        let ns = self.netns(slot);
        self.detach(slot)?;
        let (host, peer) = (self.veth_host(slot), self.veth_peer(slot));
        let addr = format!("{}/24", self.droplet_address(slot));
        let bridge = self.bridge();
        // The droplet's NIC keeps its MAC across power cycles, as a real
        // one does: the host's neighbour cache stays right after a reboot.
        let mac = format!("02:70:6f:{:02x}:{slot:02x}:01", self.octet);
        let steps: [Vec<&str>; 8] = [
            vec!["netns", "add", &ns],
            vec![
                "link", "add", &host, "type", "veth", "peer", "name", &peer, "address", &mac,
            ],
            vec!["link", "set", &host, "master", &bridge],
            vec!["link", "set", &host, "up"],
            vec!["link", "set", &peer, "netns", &ns],
            vec!["-n", &ns, "link", "set", &peer, "name", "eth0"],
            vec!["-n", &ns, "addr", "add", &addr, "dev", "eth0"],
            vec!["-n", &ns, "link", "set", "eth0", "up"],
        ];
        for args in steps {
            sys::run(Command::new("ip").args(&args))?;
        }
        sys::run(Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]))?;
        Ok(())
    }

    /// Removes the droplet's namespace and veth pair (idempotent).
    pub fn detach(&self, slot: u8) -> anyhow::Result<()> {
        let ns = self.netns(slot);
        if netns_exists(&ns) {
            sys::run(Command::new("ip").args(["netns", "del", &ns]))?;
        }
        // Deleting the namespace destroys the veth pair asynchronously, so
        // the host end may vanish between the check and the delete.
        let host = self.veth_host(slot);
        if link_exists(&host)
            && let Err(e) = sys::run(Command::new("ip").args(["link", "del", &host]))
            && link_exists(&host)
        {
            return Err(e);
        }
        Ok(())
    }

    /// Takes the droplet's link down or up (to simulate a cut connection).
    pub fn set_link(&self, slot: u8, up: bool) -> anyhow::Result<()> {
        let state = if up { "up" } else { "down" };
        sys::run(Command::new("ip").args(["link", "set", &self.veth_host(slot), state]))?;
        Ok(())
    }

    /// Every namespace and interface of this lab that exists now.
    pub fn leftovers(&self) -> Vec<String> {
        let mut found = vec![];
        if let Ok(dir) = std::fs::read_dir("/run/netns") {
            for e in dir.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(&format!("pond-{}-", self.id)) {
                    found.push(format!("netns {name}"));
                }
            }
        }
        if let Ok(dir) = std::fs::read_dir("/sys/class/net") {
            for e in dir.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(&format!("pv{}", self.id)) || name == self.bridge() {
                    found.push(format!("interface {name}"));
                }
            }
        }
        found
    }
}

pub fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

pub fn netns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

/// The interface that already holds an address in 198.18.<octet>.0/24.
fn subnet_user(octet: u8) -> Option<String> {
    let out = sys::run(Command::new("ip").args(["-4", "-o", "addr", "show"])).ok()?;
    let prefix = format!("198.18.{octet}.");
    out.lines()
        .find(|l| l.contains(&prefix))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_linux_limits_and_addresses_stay_in_the_lab_range() {
        let net = LabNet::new("ffff");
        assert!(net.veth_host(249).len() <= 15);
        assert!(net.bridge().len() <= 15);
        assert_eq!(net.droplet_address(2).octets()[..2], [198, 18]);
        assert!((1..=250).contains(&net.octet));
        assert_eq!(
            LabNet::new("0001").host_address(),
            Ipv4Addr::new(198, 18, 2, 1)
        );
    }
}
