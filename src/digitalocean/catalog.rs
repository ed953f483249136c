//! What the new-server wizard offers: the account's regions, droplet sizes
//! (with DigitalOcean's monthly price, for the cost estimate) and
//! distribution images, read from the API and typed.

use serde::Serialize;
use serde_json::Value;

use super::Client;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Region {
    pub slug: String,
    pub name: String,
    pub available: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Size {
    pub slug: String,
    pub memory_mb: u32,
    pub vcpus: u32,
    pub disk_gb: u32,
    pub price_monthly: f64,
    /// Regions the size is offered in.
    pub regions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Image {
    pub slug: String,
    /// "Ubuntu 24.04 (LTS) x64".
    pub label: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Catalog {
    pub regions: Vec<Region>,
    pub sizes: Vec<Size>,
    pub images: Vec<Image>,
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

fn number(v: &Value, key: &str) -> u32 {
    v[key].as_u64().unwrap_or_default() as u32
}

impl Client {
    /// Regions, sizes and distribution images, each sorted for display
    /// (sizes by price). Entries DO marks unavailable are kept but flagged.
    pub async fn catalog(&self) -> anyhow::Result<Catalog> {
        let regions = self.list("/regions", "regions", "listing regions").await?;
        let sizes = self
            .list("/sizes", "sizes", "listing droplet sizes")
            .await?;
        let images = self
            .list("/images?type=distribution", "images", "listing images")
            .await?;
        let mut catalog = Catalog {
            regions: regions
                .iter()
                .map(|r| Region {
                    slug: text(r, "slug"),
                    name: text(r, "name"),
                    available: r["available"].as_bool().unwrap_or(false),
                })
                .collect(),
            sizes: sizes
                .iter()
                .filter(|s| s["available"].as_bool().unwrap_or(true))
                .map(|s| Size {
                    slug: text(s, "slug"),
                    memory_mb: number(s, "memory"),
                    vcpus: number(s, "vcpus"),
                    disk_gb: number(s, "disk"),
                    price_monthly: s["price_monthly"].as_f64().unwrap_or_default(),
                    regions: s["regions"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|r| r.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect(),
            images: images
                .iter()
                .filter(|i| i["slug"].is_string())
                .map(|i| Image {
                    slug: text(i, "slug"),
                    label: format!("{} {}", text(i, "distribution"), text(i, "name")),
                })
                .collect(),
        };
        catalog.regions.sort_by(|a, b| a.slug.cmp(&b.slug));
        catalog
            .sizes
            .sort_by(|a, b| a.price_monthly.total_cmp(&b.price_monthly));
        catalog.images.sort_by(|a, b| a.label.cmp(&b.label));
        Ok(catalog)
    }

    /// Whether DigitalOcean's DNS already hosts `domain` in this account
    /// (its records take effect once the registrar points at DO's name
    /// servers).
    pub async fn hosts_domain(&self, domain: &str) -> anyhow::Result<bool> {
        match self
            .call(
                reqwest::Method::GET,
                &format!("/domains/{domain}"),
                None,
                "looking up the domain",
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match e.downcast_ref::<super::ApiError>() {
                Some(api) if api.status == 404 => Ok(false),
                _ => Err(e),
            },
        }
    }
}
