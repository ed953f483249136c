//! What the new-server wizard offers: the account's regions, droplet sizes
//! (with DigitalOcean's monthly price, for the cost estimate) and
//! distribution images, read from the API and typed, with the images Pond
//! tests (`TESTED_IMAGES`) first and the default for new servers chosen
//! among them.

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

/// The images Pond's tests run every template on (in the lab), newest
/// first. Others stay selectable, labelled as not tested.
pub const TESTED_IMAGES: &[&str] = &["debian-13-x64", "debian-12-x64"];

/// The image new servers get unless the account lacks it.
pub const DEFAULT_IMAGE: &str = TESTED_IMAGES[0];

/// Whether Pond's tests run on `slug`.
pub fn is_tested(slug: &str) -> bool {
    TESTED_IMAGES.contains(&slug)
}

/// The default image among `listed` slugs: the newest tested one the
/// account lists, else [`DEFAULT_IMAGE`] (the API then says what is wrong).
pub fn default_image<'a>(listed: impl IntoIterator<Item = &'a str>) -> String {
    let listed: Vec<&str> = listed.into_iter().collect();
    TESTED_IMAGES
        .iter()
        .find(|t| listed.contains(t))
        .unwrap_or(&DEFAULT_IMAGE)
        .to_string()
}

/// A warning for an image Pond does not test, if it is one.
pub fn untested_warning(slug: &str) -> Option<String> {
    (!is_tested(slug)).then(|| {
        format!(
            "image {slug} is not tested by Pond; Pond tests {} (its templates may fail there)",
            TESTED_IMAGES.join(" and ")
        )
    })
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Image {
    pub slug: String,
    /// "Debian 13 x64", with "(not tested by Pond)" for untested images.
    pub label: String,
    /// One of [`TESTED_IMAGES`].
    pub tested: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Catalog {
    pub regions: Vec<Region>,
    pub sizes: Vec<Size>,
    /// Tested images first (newest first), then the rest by label.
    pub images: Vec<Image>,
    /// What a new server gets unless the user picks another.
    pub default_image: String,
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
                .map(|i| {
                    let slug = text(i, "slug");
                    let tested = is_tested(&slug);
                    let mut label = format!("{} {}", text(i, "distribution"), text(i, "name"));
                    if !tested {
                        label.push_str(" (not tested by Pond)");
                    }
                    Image {
                        slug,
                        label,
                        tested,
                    }
                })
                .collect(),
            default_image: String::new(),
        };
        catalog.regions.sort_by(|a, b| a.slug.cmp(&b.slug));
        catalog
            .sizes
            .sort_by(|a, b| a.price_monthly.total_cmp(&b.price_monthly));
        catalog.images.sort_by_key(|i| {
            let rank = TESTED_IMAGES.iter().position(|t| *t == i.slug);
            (rank.unwrap_or(usize::MAX), i.label.clone())
        });
        catalog.default_image = default_image(catalog.images.iter().map(|i| i.slug.as_str()));
        Ok(catalog)
    }

    /// The default image for a new server in `region` on this account
    /// (one API call): among the images offered there.
    pub async fn default_image(&self, region: &str) -> anyhow::Result<String> {
        let images = self
            .list("/images?type=distribution", "images", "listing images")
            .await?;
        let offered_in = |i: &&Value| {
            i["regions"]
                .as_array()
                .is_none_or(|r| r.is_empty() || r.iter().any(|r| r == region))
        };
        Ok(default_image(
            images
                .iter()
                .filter(offered_in)
                .filter_map(|i| i["slug"].as_str()),
        ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_newest_tested_image_the_account_lists() {
        let all = ["ubuntu-24-04-x64", "debian-12-x64", "debian-13-x64"];
        assert_eq!(default_image(all), "debian-13-x64");
        assert_eq!(
            default_image(["ubuntu-24-04-x64", "debian-12-x64"]),
            "debian-12-x64"
        );
        assert_eq!(default_image(["ubuntu-24-04-x64"]), DEFAULT_IMAGE);
        assert!(untested_warning("debian-13-x64").is_none());
        let warning = untested_warning("ubuntu-24-04-x64").unwrap();
        assert!(warning.contains("not tested by Pond"), "{warning}");
    }
}
