//! The fake API's records (persisted as `state.json` in the lab dir, so
//! `lab down` / `lab up` keeps droplets consistent) and their rendering in
//! DigitalOcean's exact JSON shapes.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::catalog;
use crate::net::LabNet;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LabState {
    pub next_id: u64,
    pub keys: Vec<Key>,
    pub droplets: Vec<Droplet>,
    pub actions: Vec<Action>,
    pub domains: Vec<Domain>,
    pub tags: Vec<String>,
    pub load_balancers: Vec<LoadBalancer>,
    /// `/v2/certificates` (absent from a lab state saved before they were).
    #[serde(default)]
    pub certificates: Vec<Certificate>,
}

impl LabState {
    /// A fresh id; droplet, key, action and record ids share one counter
    /// (DO's ids are unique per kind; shared is simpler and still unique).
    pub fn new_id(&mut self) -> u64 {
        if self.next_id == 0 {
            self.next_id = 500_000_001;
        }
        self.next_id += 1;
        self.next_id
    }

    pub fn droplet(&self, id: u64) -> Option<&Droplet> {
        self.droplets.iter().find(|d| d.id == id)
    }

    pub fn droplet_mut(&mut self, id: u64) -> Option<&mut Droplet> {
        self.droplets.iter_mut().find(|d| d.id == id)
    }

    /// A free address slot on the lab subnet for a droplet (2..=249).
    pub fn free_slot(&self) -> Option<u8> {
        (2..=249u8).find(|s| !self.droplets.iter().any(|d| d.slot == *s))
    }

    /// A free load balancer slot (250..=254).
    pub fn free_lb_slot(&self) -> Option<u8> {
        (250..=254u8).find(|s| !self.load_balancers.iter().any(|l| l.slot == *s))
    }

    /// Records that a tag exists (droplet tags create tags, as on DO).
    pub fn ensure_tag(&mut self, tag: &str) {
        if !self.tags.iter().any(|t| t == tag) {
            self.tags.push(tag.to_string());
        }
    }

    pub fn action_mut(&mut self, id: u64) -> Option<&mut Action> {
        self.actions.iter_mut().find(|a| a.id == id)
    }

    /// Starts an action record in progress and returns its id.
    pub fn start_action(&mut self, kind: &str, droplet: &Droplet) -> u64 {
        let id = self.new_id();
        self.actions.push(Action {
            id,
            kind: kind.to_string(),
            status: "in-progress".into(),
            started_at: now(),
            completed_at: None,
            resource_id: droplet.id,
            resource_type: "droplet".into(),
            region_slug: droplet.region.clone(),
        });
        id
    }

    /// Marks an action completed or errored.
    pub fn finish_action(&mut self, id: u64, ok: bool) {
        if let Some(a) = self.action_mut(id) {
            a.status = if ok { "completed" } else { "errored" }.into();
            a.completed_at = Some(now());
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Key {
    pub id: u64,
    pub name: String,
    pub public_key: String,
    pub fingerprint: String,
}

impl Key {
    pub fn json(&self) -> Value {
        json!({"id": self.id, "fingerprint": self.fingerprint, "public_key": self.public_key, "name": self.name})
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Droplet {
    pub id: u64,
    pub name: String,
    pub slot: u8,
    pub region: String,
    pub size: String,
    pub image: String,
    pub tags: Vec<String>,
    /// `new`, `active` or `off`.
    pub status: String,
    pub created_at: String,
    pub authorized_keys: Vec<String>,
    /// Fault injection: this droplet never becomes active.
    #[serde(default)]
    pub never_active: bool,
}

impl Droplet {
    pub fn json(&self, net: &LabNet) -> Value {
        let size = catalog::size(&self.size).unwrap_or_else(|| json!({}));
        let image = catalog::image(&self.image).unwrap_or_else(|| json!({}));
        let region = catalog::region(&self.region).unwrap_or_else(|| json!({}));
        json!({
            "id": self.id,
            "name": self.name,
            "memory": size["memory"],
            "vcpus": size["vcpus"],
            "disk": size["disk"],
            "disk_info": size["disk_info"],
            "locked": false,
            "status": self.status,
            "kernel": null,
            "created_at": self.created_at,
            "features": ["droplet_agent"],
            "backup_ids": [],
            "next_backup_window": null,
            "snapshot_ids": [],
            "image": image,
            "volume_ids": [],
            "size": size,
            "size_slug": self.size,
            "networks": {
                "v4": [{
                    "ip_address": net.droplet_address(self.slot).to_string(),
                    "netmask": "255.255.255.0",
                    "gateway": net.host_address().to_string(),
                    "type": "public",
                }],
                "v6": [],
            },
            "region": region,
            "tags": self.tags,
            "vpc_uuid": uuid_from(u128::from(net.octet)),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Action {
    pub id: u64,
    pub kind: String,
    pub status: String,
    pub started_at: String,
    pub completed_at: Option<String>,
    pub resource_id: u64,
    pub resource_type: String,
    pub region_slug: String,
}

impl Action {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "status": self.status,
            "type": self.kind,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "resource_id": self.resource_id,
            "resource_type": self.resource_type,
            "region": catalog::region(&self.region_slug),
            "region_slug": self.region_slug,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Domain {
    pub name: String,
    pub ttl: u32,
    pub records: Vec<Record>,
}

impl Domain {
    pub fn json(&self) -> Value {
        json!({"name": self.name, "ttl": self.ttl, "zone_file": self.zone_file()})
    }

    /// A BIND zone file of the records, as DO returns in `zone_file`.
    pub fn zone_file(&self) -> String {
        let mut z = format!("$ORIGIN {}.\n$TTL {}\n", self.name, self.ttl);
        for r in &self.records {
            let data = if matches!(r.kind.as_str(), "CNAME" | "NS" | "MX")
                && !r.data.ends_with('.')
                && r.data != "@"
            {
                format!("{}.", r.data)
            } else {
                r.data.clone()
            };
            z.push_str(&format!(
                "{}\t{}\tIN\t{}\t{}\n",
                r.name, r.ttl, r.kind, data
            ));
        }
        z
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub data: String,
    pub priority: Option<u32>,
    pub port: Option<u32>,
    pub ttl: u32,
    pub weight: Option<u32>,
    pub flags: Option<u32>,
    pub tag: Option<String>,
}

impl Record {
    pub fn json(&self) -> Value {
        serde_json::to_value(self).expect("record serializes")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub id: String,
    pub name: String,
    pub slot: u8,
    pub region: String,
    pub status: String,
    pub created_at: String,
    pub forwarding_rules: Vec<Value>,
    pub health_check: Value,
    pub sticky_sessions: Value,
    pub droplet_ids: Vec<u64>,
    pub tag: String,
    #[serde(default)]
    pub redirect_http_to_https: bool,
    #[serde(default)]
    pub disable_lets_encrypt_dns_records: bool,
}

impl LoadBalancer {
    pub fn json(&self, net: &LabNet) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "ip": net.lb_address(self.slot).to_string(),
            "ipv6": "",
            "size_unit": 1,
            "size": "lb-small",
            "algorithm": "round_robin",
            "status": self.status,
            "created_at": self.created_at,
            "forwarding_rules": self.forwarding_rules,
            "health_check": self.health_check,
            "sticky_sessions": self.sticky_sessions,
            "redirect_http_to_https": self.redirect_http_to_https,
            "enable_proxy_protocol": false,
            "enable_backend_keepalive": false,
            "http_idle_timeout_seconds": 60,
            "vpc_uuid": uuid_from(u128::from(net.octet)),
            "disable_lets_encrypt_dns_records": self.disable_lets_encrypt_dns_records,
            "network": "EXTERNAL",
            "network_stack": "IPV4",
            "type": "REGIONAL",
            "region": catalog::region(&self.region),
            "droplet_ids": self.droplet_ids,
            "tag": self.tag,
        })
    }
}

/// A `lets_encrypt` certificate: `pending` while the lab's ACME client
/// orders it from the lab's CA, then `verified` with its chain and key
/// (which, as on DigitalOcean, never leave the API), or `error`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Certificate {
    pub id: String,
    pub name: String,
    pub dns_names: Vec<String>,
    pub state: String,
    pub created_at: String,
    /// Empty until issued.
    pub not_after: String,
    pub sha1_fingerprint: String,
    pub chain_pem: String,
    pub key_pem: String,
}

impl Certificate {
    /// DO's shape; `not_after` and `sha1_fingerprint` only once issued.
    pub fn json(&self) -> Value {
        let mut out = json!({
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "dns_names": self.dns_names,
            "state": self.state,
            "type": "lets_encrypt",
        });
        if !self.not_after.is_empty() {
            out["not_after"] = self.not_after.clone().into();
            out["sha1_fingerprint"] = self.sha1_fingerprint.clone().into();
        }
        out
    }
}

/// The current time as DO writes it: `2026-11-25T20:30:00Z`.
pub fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .expect("time formats")
}

/// A UUID-shaped string from a number (stable per lab).
pub fn uuid_from(n: u128) -> String {
    let h = format!("{:032x}", n ^ 0x5f0d_0000_0000_4000_8000_0000_0000_0000);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A random UUID (version 4 layout).
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("OS randomness");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_from(u128::from_be_bytes(b) ^ 0x5f0d_0000_0000_4000_8000_0000_0000_0000)
}

/// DO's SSH key fingerprint: MD5 of the key blob, colon-separated hex.
pub fn md5_fingerprint(public_key: &str) -> Option<String> {
    use base64::Engine;
    use md5::Digest;
    let blob = public_key.split_whitespace().nth(1)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .ok()?;
    let digest = md5::Md5::digest(&bytes);
    Some(
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_match_ssh_keygen_md5() {
        // ssh-keygen -E md5 -lf on this key prints MD5:7a:1c:...; checked by hand.
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b";
        let fp = md5_fingerprint(key).unwrap();
        assert_eq!(fp.len(), 47);
        assert_eq!(fp.matches(':').count(), 15);
        assert!(md5_fingerprint("ssh-ed25519 !!!").is_none());
    }

    #[test]
    fn uuids_are_shaped_like_uuids() {
        let u = random_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(random_uuid(), u);
    }
}
