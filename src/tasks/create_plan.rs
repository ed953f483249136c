//! What a new-server run is asked for ([`NewServer`], the wizard's and
//! `pond create`'s choices, with the checks that refuse choices that
//! cannot work together and the database choice) and what it will do: in
//! words, for the wizard's review page and `pond create --dry-run`
//! ([`NewServer::plan_lines`]), and the requests creating its droplets
//! ([`NewServer::droplet_requests`]), which the run sends as planned.

use std::time::Duration;

use super::transfer;
use crate::config::{self, Database, Droplet, DropletRole, Stack};

/// What the wizard asks for.
#[derive(Debug, Clone)]
pub struct NewServer {
    pub account: String,
    pub env: String,
    pub region: String,
    pub size: String,
    pub image: String,
    pub domain: String,
    pub secret_prefix: String,
    pub database: Database,
    /// The database server of a `droplet` or `host:ADDR` choice (see
    /// [`database_choice`]); created with the web droplets when it has no
    /// address yet.
    pub database_server: Option<Droplet>,
    pub tag: String,
    pub active_timeout: Duration,
    /// A database dump and attachments loaded before the first deploy.
    pub transfer: transfer::Transfer,
    /// Web droplets; more than one, or `load_balanced`, puts a DigitalOcean
    /// load balancer in front of them.
    pub web_droplets: u32,
    pub load_balanced: bool,
    /// A droplet that already serves other environments (of this project
    /// or another) to put this one on instead of creating one: its record,
    /// with id and address (and host key, when pond.json pins it).
    pub on: Option<Droplet>,
    /// The account's ACME CA (the domain's certificate comes from it).
    pub acme: super::tls::Acme,
}

impl NewServer {
    pub fn is_load_balanced(&self) -> bool {
        self.load_balanced || self.web_droplets > 1
    }

    /// Choices that cannot work together, refused before anything is made.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(on) = &self.on {
            if self.is_load_balanced() {
                anyhow::bail!(
                    "--on puts the environment on one droplet that exists; a load-balanced environment needs droplets of its own"
                );
            }
            if on.id.is_none() || on.address.is_none() {
                anyhow::bail!(
                    "droplet {} has no DigitalOcean id and address in pond.json; pond attach binds a server Pond did not create",
                    on.name
                );
            }
            if self
                .database_server
                .as_ref()
                .is_some_and(|d| d.address.is_none())
            {
                anyhow::bail!(
                    "--on with --db droplet would create a database droplet; choose same, none or host:ADDR"
                );
            }
        }
        if self.is_load_balanced() && matches!(self.database, Database::SameDroplet { .. }) {
            anyhow::bail!(
                "a load-balanced environment needs one database for all its web droplets; choose a database droplet (--db droplet), an existing server (--db host:ADDR) or none — MariaDB on each web droplet would give each its own data"
            );
        }
        Ok(())
    }

    /// How many droplets the run creates (web droplets and a new database
    /// droplet), for the cost estimate.
    pub fn droplets_to_create(&self) -> u32 {
        if self.on.is_some() {
            return 0;
        }
        let new_db = self
            .database_server
            .as_ref()
            .is_some_and(|d| d.address.is_none());
        self.web_droplets.max(1) + u32::from(new_db)
    }
}

/// The database of a new environment from the choice a user makes:
/// `same` (MariaDB on the web droplet), `droplet` (a new database droplet
/// `<project>-<env>-db`, created with the web droplets), `host:ADDR` (an
/// existing server Pond reaches over SSH as root and sets MariaDB up on) or
/// `none`; named after the project (and the environment on an existing
/// server, which other environments may share); a static site has none. Returns the
/// placement and, for the last two, the database server's droplet record
/// (without an address when it is still to be created). The error says
/// what was expected.
pub fn database_choice(
    choice: &str,
    project: &str,
    env: &str,
    stack: Stack,
) -> Result<(Database, Option<Droplet>), String> {
    let (db_name, user) = crate::plan::layout::default_db_names(project, env);
    let server = |address: Option<String>| Droplet {
        name: format!("{project}-{env}-db").chars().take(63).collect(),
        id: None,
        role: DropletRole::Database,
        address,
        ssh_user: None,
        private_address: None,
        host_key: None,
        joined: false,
    };
    let other = |d: Droplet, name: String, user: String| {
        (
            Database::OtherDroplet {
                droplet: d.name.clone(),
                name,
                user,
            },
            Some(d),
        )
    };
    match (choice, stack) {
        ("none", _) | (_, Stack::Static) => Ok((Database::None, None)),
        ("same", _) => Ok((
            Database::SameDroplet {
                user: user.clone(),
                name: db_name.clone(),
            },
            None,
        )),
        ("droplet", _) => Ok(other(server(None), db_name.clone(), user.clone())),
        (other_choice, _) => match other_choice.strip_prefix("host:") {
            Some(addr) => {
                config::grammar::ipv4(addr).map_err(|e| format!("host:{addr:?}: {e}"))?;
                Ok(other(
                    server(Some(addr.to_string())),
                    db_name.clone(),
                    user.clone(),
                ))
            }
            None => Err(format!(
                "{other_choice:?}: expected same, droplet, host:IPV4 or none"
            )),
        },
    }
}

impl NewServer {
    /// The names of the droplets the run creates, in the order it creates
    /// them: the web droplets, then a new database droplet.
    pub fn new_droplet_names(&self, project: &str) -> Vec<String> {
        if self.on.is_some() {
            return vec![];
        }
        (1..=self.web_droplets.max(1))
            .map(|i| format!("{project}-{}-{i}", self.env))
            .chain(
                self.database_server
                    .iter()
                    .filter(|d| d.address.is_none())
                    .map(|d| d.name.clone()),
            )
            .collect()
    }

    /// The requests creating the run's droplets ([`Self::new_droplet_names`]),
    /// tagged for `file`'s project, with the SSH keys of `public_line` and
    /// the team by fingerprint: what `pond create --dry-run` prints and the
    /// run sends. Pure.
    pub fn droplet_requests(
        &self,
        file: &crate::config::ProjectFile,
        public_line: &str,
    ) -> anyhow::Result<Vec<crate::plan::Operation>> {
        let keys: Vec<serde_json::Value> = super::droplets::key_fingerprints(file, public_line)?
            .into_iter()
            .map(serde_json::Value::String)
            .collect();
        let spec = super::droplets::DropletSpec {
            region: self.region.clone(),
            size: self.size.clone(),
            image: self.image.clone(),
        };
        let tags = super::droplets::env_tags(&file.name, &self.env);
        let requests = self
            .new_droplet_names(&file.name)
            .iter()
            .map(|name| super::droplets::create_request(&self.account, name, &spec, &tags, &keys))
            .collect::<Vec<_>>();
        for op in &requests {
            super::execute::check_api(op)?;
        }
        Ok(requests)
    }

    /// Every action the run will take, in order, for the review page and
    /// `--dry-run`. Pure.
    pub fn plan_lines(&self, project: &str, price_monthly: Option<f64>) -> Vec<String> {
        let n = self.web_droplets.max(1);
        let droplet = if n == 1 {
            format!("droplet {project}-{}-1", self.env)
        } else {
            format!("{n} droplets {project}-{}-1…{n}", self.env)
        };
        let new_db = self
            .database_server
            .as_ref()
            .filter(|d| d.address.is_none());
        let cost = price_monthly
            .map(|p| format!(", about ${:.2}/month", p * f64::from(n)))
            .unwrap_or_default();
        let mut lines = vec![format!("check the token of account {}", self.account)];
        if let Some(on) = &self.on {
            lines.push(format!(
                "use droplet {} ({}), which already runs: tag it pond-{project}-{} (no new droplet, no new cost)",
                on.name,
                on.address.as_deref().unwrap_or("?"),
                self.env
            ));
            lines.push(
                "provision only what is missing there and add this environment's users, PHP-FPM pool, vhosts and database; the sites it already serves keep theirs"
                    .to_string(),
            );
        } else {
            lines
                .push("register your SSH public key (and the team's) with the account".to_string());
            lines.push(format!(
                "create {droplet} ({}, {}, {}{cost}) tagged pond, pond-{project}, pond-{project}-{}",
                self.region, self.size, self.image, self.env
            ));
        }
        if let Some(db) = new_db {
            lines.push(format!(
                "create database droplet {} ({}, {}, {}{}) with the same tags",
                db.name,
                self.region,
                self.size,
                self.image,
                price_monthly
                    .map(|p| format!(", about ${p:.2}/month"))
                    .unwrap_or_default()
            ));
        }
        if self.on.is_none() {
            lines.push("wait until active, then pin SSH host keys in pond.json".to_string());
        }
        if self.is_load_balanced() {
            lines.push(format!(
                "create load balancer {project}-{}-lb (HTTP 80, HTTPS 443 once its certificate is issued) in front of them (billed by DigitalOcean on top of the droplets)",
                self.env
            ));
        }
        let db = match &self.database {
            Database::None => "no database".to_string(),
            Database::SameDroplet { name, .. } => {
                format!("MariaDB on the droplet with database {name} (password generated there)")
            }
            Database::OtherDroplet { droplet, .. } => {
                let at = self
                    .database_server
                    .as_ref()
                    .and_then(|d| d.address.as_deref())
                    .map(|a| format!(" (existing server {a}, reached over SSH as root)"))
                    .unwrap_or_default();
                format!(
                    "MariaDB on {droplet}{at}, reachable only from the web droplets; each web droplet makes its own password and sends only its hash"
                )
            }
            Database::External { host, .. } => format!("the database at {host}"),
        };
        lines.push(format!(
            "provision: nginx, the web stack, {db}, layout and vhosts"
        ));
        if let Some(dump) = &self.transfer.db_dump {
            lines.push(format!("load the database dump {}", dump.display()));
        }
        if let Some(source) = &self.transfer.db_from {
            lines.push(format!(
                "copy database {} into the new one (dumped there over SSH with your key, streamed, no file kept)",
                source.label()
            ));
        }
        if let Some(dir) = &self.transfer.attachments {
            lines.push(format!("upload attachments from {}", dir.display()));
        }
        lines.push(format!(
            "first deploy (build {}) to both colours, blue live; health check",
            self.tag
        ));
        lines.push(format!(
            "point DNS: {d}, www.{d}, {p}.{d}, {p}-blue.{d}, {p}-green.{d} (A records)",
            d = self.domain,
            p = self.secret_prefix
        ));
        if self.is_load_balanced() {
            lines.push(format!(
                "HTTPS at the load balancer: one certificate for {d} and *.{d} (the wildcard covers www. and the preview hosts, so no secret name is in it), requested from Let's Encrypt and renewed by DigitalOcean; 443 → the droplets' port 80, HTTP redirected to HTTPS",
                d = self.domain
            ));
        } else {
            lines.push(format!(
                "HTTPS: a certificate for {d} and www.{d} from {ca}, requested and renewed on the droplet (HTTP-01); its key never leaves it",
                d = self.domain,
                ca = self.acme.describe()
            ));
            lines.push(format!(
                "HTTPS for the preview hosts: a wildcard *.{d} from {ca} by DNS-01 (a TXT record in {d}, removed after); the droplet makes its key, only the CSR and the chain travel",
                d = self.domain,
                ca = self.acme.describe()
            ));
        }
        lines.push(format!("record environment {} in pond.json", self.env));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_server(db: &str, web_droplets: u32) -> NewServer {
        let (database, database_server) = database_choice(db, "shop", "live", Stack::Php).unwrap();
        NewServer {
            account: "agency".into(),
            env: "live".into(),
            region: "ams3".into(),
            size: "s-1vcpu-1gb".into(),
            image: "debian-12-x64".into(),
            domain: "shop.example.com".into(),
            secret_prefix: "k3v9q2x8m1zapt".into(),
            database,
            database_server,
            tag: "v1".into(),
            active_timeout: Duration::from_secs(300),
            transfer: Default::default(),
            web_droplets,
            load_balanced: web_droplets > 1,
            on: None,
            acme: super::super::tls::Acme {
                directory: "https://acme.example/dir".into(),
                ca_pem: None,
            },
        }
    }

    #[test]
    fn the_droplet_requests_are_the_web_droplets_then_a_new_database_droplet() {
        const KEY: &str =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICAfg8uAIpxktHV+Pd4M13IDlJZAJlPd3YXks5NJf6uD test";
        let file = crate::config::ProjectFile::starter("shop", Stack::Php);
        let input = new_server("droplet", 2);
        assert_eq!(
            input.new_droplet_names("shop"),
            ["shop-live-1", "shop-live-2", "shop-live-db"]
        );
        let requests = input.droplet_requests(&file, KEY).unwrap();
        let bodies: Vec<serde_json::Value> = requests
            .iter()
            .map(|op| match &op.action {
                crate::plan::Action::Api(r) => {
                    assert_eq!(
                        (r.method, r.path.as_str()),
                        (crate::plan::Method::Post, "/v2/droplets")
                    );
                    r.body.clone().unwrap()
                }
                crate::plan::Action::Script { .. } => panic!("an API request"),
            })
            .collect();
        assert_eq!(bodies.len(), 3);
        assert_eq!(
            bodies[2],
            serde_json::json!({
                "name": "shop-live-db", "region": "ams3", "size": "s-1vcpu-1gb",
                "image": "debian-12-x64",
                "ssh_keys": ["a9:58:13:2a:62:d8:bb:e9:15:cb:20:23:80:85:c7:95"],
                "tags": ["pond", "pond-shop", "pond-shop-live"],
            })
        );
        // An existing database server is not created; --on creates nothing.
        let on_host = new_server("host:198.18.0.9", 1);
        assert_eq!(on_host.new_droplet_names("shop"), ["shop-live-1"]);
        let mut on = new_server("same", 1);
        on.on = on_host.database_server.clone();
        assert!(on.droplet_requests(&file, KEY).unwrap().is_empty());
    }

    #[test]
    fn the_database_choice_is_named_after_the_project_and_environment() {
        assert_eq!(
            database_choice("same", "acme-shop", "live", Stack::Php),
            Ok((
                Database::SameDroplet {
                    name: "acme_shop_live".into(),
                    user: "acme_shop_live".into(),
                },
                None
            ))
        );
        assert_eq!(
            database_choice("same", "site", "live", Stack::Static),
            Ok((Database::None, None))
        );
        assert_eq!(
            database_choice("none", "acme", "live", Stack::Php),
            Ok((Database::None, None))
        );
        let (db, server) = database_choice("droplet", "acme", "live", Stack::Php).unwrap();
        let server = server.unwrap();
        assert_eq!(
            (server.name.as_str(), server.role, &server.address),
            ("acme-live-db", DropletRole::Database, &None)
        );
        assert_eq!(
            db,
            Database::OtherDroplet {
                droplet: "acme-live-db".into(),
                name: "acme_live".into(),
                user: "acme_live".into()
            }
        );
        let (db, server) =
            database_choice("host:198.18.7.9", "acme", "live-eu", Stack::Php).unwrap();
        assert_eq!(server.unwrap().address.as_deref(), Some("198.18.7.9"));
        assert_eq!(
            db,
            Database::OtherDroplet {
                droplet: "acme-live-eu-db".into(),
                name: "acme_live_eu".into(),
                user: "acme_live_eu".into()
            },
            "a shared server keeps environments apart"
        );
        assert_eq!(
            database_choice("host:db.example.com", "acme", "live", Stack::Php),
            Err("host:\"db.example.com\": expected an IPv4 address like 203.0.113.10".into())
        );
        assert_eq!(
            database_choice("cloud", "acme", "live", Stack::Php),
            Err("\"cloud\": expected same, droplet, host:IPV4 or none".to_string())
        );
    }
}
