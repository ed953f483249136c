//! The lab: an offline stand-in for DigitalOcean on this machine. A
//! DO-compatible API on loopback ([`api`]) whose droplets are real Debian
//! servers ([`machine`]) in network namespaces joined by a bridge
//! ([`net`]), built from a cached base root ([`base`]), installing
//! packages through a host-side apt proxy ([`aptproxy`]), resolving names
//! through the lab's authoritative DNS ([`dns`]), with certificates from
//! the lab's ACME CA ([`acme`], Pebble). Linux and root only.

pub mod acme;
pub mod api;
pub mod aptproxy;
pub mod base;
pub mod daemon;
pub mod dns;
pub mod guest_fs;
pub mod issuer;
pub mod lb_proxy;
pub mod machine;
pub mod net;
pub mod runtime;
pub mod sys;

use std::path::{Path, PathBuf};

/// Default lab directory when `--dir` is not given.
pub const DEFAULT_DIR: &str = "/var/lib/pond/lab";

/// The short id of a lab, derived from its directory path, that names its
/// bridge, namespaces and subnet.
pub fn lab_id(dir: &Path) -> String {
    let text = dir.to_string_lossy();
    // FNV-1a, folded to 16 bits.
    let mut h: u32 = 0x811c9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x01000193);
    }
    format!("{:04x}", (h ^ (h >> 16)) & 0xffff)
}

/// Where the base image cache lives: `$POND_LAB_CACHE`, else `<dir>/cache`.
pub fn cache_dir(dir: &Path) -> PathBuf {
    std::env::var_os("POND_LAB_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("cache"))
}
