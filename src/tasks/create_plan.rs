//! What a new-server run will do, in words, for the wizard's review page
//! and `pond create --dry-run`: the lines of [`NewServer::plan_lines`].

use super::create::NewServer;
use crate::config::Database;

impl NewServer {
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
