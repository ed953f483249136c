//! Static catalogues the lab serves in DigitalOcean's shapes: regions,
//! sizes (with DO's public prices, so the wizard can estimate cost), and
//! images: only those the lab can boot (`base::IMAGES`), under DO's slugs,
//! so projects written against the lab work unchanged on DO.

use serde_json::{Value, json};

pub const REGIONS: &[(&str, &str)] = &[
    ("ams3", "Amsterdam 3"),
    ("fra1", "Frankfurt 1"),
    ("lon1", "London 1"),
    ("nyc3", "New York 3"),
    ("sfo3", "San Francisco 3"),
    ("sgp1", "Singapore 1"),
];

/// (slug, memory MB, vcpus, disk GB, transfer TB, monthly USD, description)
pub const SIZES: &[(&str, u32, u32, u32, f64, f64, &str)] = &[
    ("s-1vcpu-512mb-10gb", 512, 1, 10, 0.5, 4.0, "Basic"),
    ("s-1vcpu-1gb", 1024, 1, 25, 1.0, 6.0, "Basic"),
    ("s-1vcpu-2gb", 2048, 1, 50, 2.0, 12.0, "Basic"),
    ("s-2vcpu-2gb", 2048, 2, 60, 3.0, 18.0, "Basic"),
    ("s-2vcpu-4gb", 4096, 2, 80, 4.0, 24.0, "Basic"),
    ("s-4vcpu-8gb", 8192, 4, 160, 5.0, 48.0, "Basic"),
];

pub const CREATED: &str = "2026-01-01T00:00:00Z";

fn size_slugs() -> Vec<&'static str> {
    SIZES.iter().map(|s| s.0).collect()
}

fn region_slugs() -> Vec<&'static str> {
    REGIONS.iter().map(|r| r.0).collect()
}

pub fn region(slug: &str) -> Option<Value> {
    REGIONS.iter().find(|r| r.0 == slug).map(|(slug, name)| {
        json!({
            "name": name,
            "slug": slug,
            "features": ["backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"],
            "available": true,
            "sizes": size_slugs(),
        })
    })
}

pub fn regions() -> Vec<Value> {
    REGIONS.iter().filter_map(|r| region(r.0)).collect()
}

pub fn size(slug: &str) -> Option<Value> {
    SIZES.iter().find(|s| s.0 == slug).map(
        |&(slug, memory, vcpus, disk, transfer, monthly, description)| {
            json!({
                "slug": slug,
                "memory": memory,
                "vcpus": vcpus,
                "disk": disk,
                "transfer": transfer,
                "price_monthly": monthly,
                "price_hourly": (monthly / 672.0 * 100000.0).round() / 100000.0,
                "regions": region_slugs(),
                "available": true,
                "description": description,
                "disk_info": [{"type": "local", "size": {"amount": disk, "unit": "gib"}}],
            })
        },
    )
}

pub fn sizes() -> Vec<Value> {
    SIZES.iter().filter_map(|s| size(s.0)).collect()
}

/// An image by slug or numeric id.
pub fn image(key: &str) -> Option<Value> {
    crate::base::image(key).map(|i| {
        let (id, slug, name, distribution) = (i.id, i.slug, i.name, "Debian");
        json!({
            "id": id,
            "name": name,
            "type": "base",
            "distribution": distribution,
            "slug": slug,
            "public": true,
            "regions": region_slugs(),
            "created_at": CREATED,
            "min_disk_size": 10,
            "size_gigabytes": 2.36,
            "description": format!("{distribution} {name} (lab: Debian {})", i.suite),
            "tags": [],
            "status": "available",
            "error_message": "",
        })
    })
}

pub fn images() -> Vec<Value> {
    crate::base::IMAGES
        .iter()
        .filter_map(|i| image(i.slug))
        .collect()
}

/// The slugs of every image the lab can boot, for error messages.
pub fn image_slugs() -> Vec<&'static str> {
    crate::base::IMAGES.iter().map(|i| i.slug).collect()
}
