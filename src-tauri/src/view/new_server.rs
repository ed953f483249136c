//! The new-server wizard's shapes: what the account offers, the domain
//! check, the request, its plan and the URLs it ends with.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What the wizard can offer, from the account's API.
#[derive(Debug, Serialize, TS)]
pub struct CatalogView {
    pub regions: Vec<RegionView>,
    pub sizes: Vec<SizeView>,
    /// Tested images first, newest first; then the rest.
    pub images: Vec<ImageView>,
    /// The image a new server gets unless the user picks another.
    pub default_image: String,
}

#[derive(Debug, Serialize, TS)]
pub struct RegionView {
    pub slug: String,
    pub name: String,
    pub available: bool,
}

#[derive(Debug, Serialize, TS)]
pub struct SizeView {
    pub slug: String,
    pub memory_mb: u32,
    pub vcpus: u32,
    pub disk_gb: u32,
    pub price_monthly: f64,
    pub regions: Vec<String>,
}

#[derive(Debug, Serialize, TS)]
pub struct ImageView {
    pub slug: String,
    /// "Debian 13 x64"; untested images end in "(not tested by Pond)".
    pub label: String,
    /// Pond's tests run on this image.
    pub tested: bool,
}

impl From<pond::digitalocean::Catalog> for CatalogView {
    fn from(c: pond::digitalocean::Catalog) -> CatalogView {
        CatalogView {
            regions: c
                .regions
                .into_iter()
                .map(|r| RegionView {
                    slug: r.slug,
                    name: r.name,
                    available: r.available,
                })
                .collect(),
            sizes: c
                .sizes
                .into_iter()
                .map(|s| SizeView {
                    slug: s.slug,
                    memory_mb: s.memory_mb,
                    vcpus: s.vcpus,
                    disk_gb: s.disk_gb,
                    price_monthly: s.price_monthly,
                    regions: s.regions,
                })
                .collect(),
            images: c
                .images
                .into_iter()
                .map(|i| ImageView {
                    slug: i.slug,
                    label: i.label,
                    tested: i.tested,
                })
                .collect(),
            default_image: c.default_image,
        }
    }
}

#[derive(Debug, Deserialize, TS)]
pub struct DomainCheckRequest {
    pub account: String,
    pub domain: String,
}

#[derive(Debug, Serialize, TS)]
pub struct DomainCheck {
    /// DigitalOcean's DNS hosts the domain in this account already.
    pub hosted: bool,
    /// DNS delegates the domain's zone to DigitalOcean's name servers (None:
    /// not known).
    pub delegated: Option<bool>,
    /// What the user must know about name servers.
    pub note: String,
}

/// The wizard's answers.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct NewServerRequest {
    pub dir: String,
    pub account: String,
    pub env: String,
    pub region: String,
    pub size: String,
    pub image: String,
    pub domain: String,
    /// "same" (MariaDB on the web droplet), "droplet" (a new database
    /// droplet), "host:IPV4" (an existing server) or "none".
    pub database: String,
    /// "single" or "load_balanced".
    pub kind: String,
    /// Web droplets of a load-balanced environment (1-20).
    pub droplets: u32,
    pub db_dump: Option<String>,
    /// A database to copy, `ssh://USER@HOST[:PORT]/DATABASE`.
    pub db_from: Option<String>,
    pub attachments: Option<String>,
    pub tag: String,
    pub secret_prefix: String,
    /// A droplet the account already runs to put the environment on
    /// (`account_droplets`); none: new droplets.
    pub on: Option<String>,
    /// Names the run for `cancel` (which stops it at its next step).
    pub run_id: Option<String>,
    /// The droplet requests the review showed (`NewServerPlan.requests`):
    /// a run refuses, creating nothing, when pond.json or the user's key
    /// now give others.
    pub shown_requests: Option<Vec<String>>,
}

#[derive(Debug, Serialize, TS)]
pub struct NewServerPlan {
    pub lines: Vec<String>,
    /// The requests creating its droplets, one line each with its body, as
    /// the run sends them (`NewServer::droplet_requests`; `pond create
    /// --dry-run` prints the same).
    pub requests: Vec<String>,
    /// Droplets the run creates.
    pub droplets: u32,
    /// Their monthly price together, when the size's price is known.
    pub price_monthly: Option<f64>,
}

#[derive(Debug, Serialize, TS)]
pub struct UrlsView {
    pub production: String,
    pub preview: String,
    pub blue: String,
    pub green: String,
    /// Why the domain is not on HTTPS yet (null: it is, or HTTPS is off).
    pub https_problem: Option<String>,
}
