//! The environments' rules: names, domains, preview prefixes, droplets and
//! their roles, load balancers, accounts, and databases — including that
//! no two environments share a database or user on one server.

use std::collections::HashMap;

use super::*;

/// No two environments may use the same database, or the same database
/// user, on one server: the second would take over (and re-password) the
/// first's. A server is a droplet's address (its name until it has one);
/// external database servers, where Pond creates nothing, are not checked.
pub(super) fn validate_shared_databases(w: &mut Walker, file: &ProjectFile) {
    let mut seen: HashMap<(String, &str, &str), &str> = HashMap::new();
    for (i, env) in file.environments.iter().enumerate() {
        let server_of = |d: &crate::config::Droplet| {
            d.address
                .clone()
                .unwrap_or_else(|| format!("droplet {}", d.name))
        };
        let (servers, name, user): (Vec<String>, &str, &str) = match &env.database {
            Database::None => continue,
            Database::SameDroplet { name, user } => (
                env.droplets
                    .iter()
                    .filter(|d| d.role == crate::config::DropletRole::Web)
                    .map(server_of)
                    .collect(),
                name,
                user,
            ),
            Database::OtherDroplet {
                droplet,
                name,
                user,
            } => (
                env.droplets
                    .iter()
                    .filter(|d| &d.name == droplet)
                    .map(server_of)
                    .collect(),
                name,
                user,
            ),
            // Pond creates nothing on a server it does not manage.
            Database::External { .. } => continue,
        };
        for server in servers {
            for (field, what, value) in
                [("name", "database", name), ("user", "database user", user)]
            {
                let key = (server.clone(), field, value);
                if let Some(other) = seen.get(&key) {
                    w.push(
                        format!("environments[{i}].database.{field}"),
                        format!(
                            "environment {} already uses {what} {} on {server}; two environments on one server need their own (e.g. {})",
                            show(other),
                            show(value),
                            show(&format!("{}_{}", value, env.name.replace('-', "_")))
                        ),
                    );
                } else {
                    seen.insert(key, &env.name);
                }
            }
        }
    }
}

pub(super) fn validate_environments(w: &mut Walker, file: &ProjectFile) {
    let mut names = HashMap::new();
    let mut domains = HashMap::new();
    let mut droplet_names: HashMap<&str, (String, Option<&str>, Option<u64>)> = HashMap::new();
    for (i, env) in file.environments.iter().enumerate() {
        let at = |field: &str| format!("environments[{i}].{field}");
        w.input(&at("name"), &env.name, "environment name", ENV);
        w.unique(&mut names, at("name"), &env.name, "environment name");

        if let Some(account) = &env.account
            && !file.accounts.iter().any(|a| &a.name == account)
        {
            let declared: Vec<&str> = file.accounts.iter().map(|a| a.name.as_str()).collect();
            let declared = if declared.is_empty() {
                "none are declared".to_string()
            } else {
                format!("declared: {}", declared.join(", "))
            };
            w.push(
                at("account"),
                format!(
                    "account {} is not listed in accounts ({declared})",
                    show(account)
                ),
            );
        }
        if env.account.is_none() && env.droplets.iter().any(|d| d.id.is_some()) {
            w.push(
                at("account"),
                "is missing; droplets with a DigitalOcean id need the account that owns them",
            );
        }
        for (field, value) in [
            ("region", &env.region),
            ("size", &env.size),
            ("image", &env.image),
        ] {
            if let Some(v) = value {
                w.check(&at(field), v, &format!("{field} slug"), grammar::do_slug);
            }
        }
        w.input(&at("domain"), &env.domain, "domain name", DOMAIN);
        w.unique(&mut domains, at("domain"), &env.domain, "domain");
        w.input(
            &at("secret_prefix"),
            &env.secret_prefix,
            "secret prefix",
            SECRET_PREFIX,
        );
        if format!("{}-green.{}", env.secret_prefix, env.domain).len() > 253 {
            w.push(
                at("domain"),
                "is too long to hold the preview host <secret_prefix>-green.<domain> (253 characters at most)",
            );
        }
        if let Some(hp) = &env.health_path {
            w.input(&at("health_path"), hp, "health-check path", HEALTH_PATH);
        }

        for (j, d) in env.droplets.iter().enumerate() {
            let at = |field: &str| format!("environments[{i}].droplets[{j}].{field}");
            w.check(&at("name"), &d.name, "droplet name", grammar::droplet_name);
            // One droplet may serve several environments (`pond create
            // --on`): the same name is the same server only with the same
            // address and id.
            match droplet_names.get(d.name.as_str()) {
                Some((first, address, id))
                    if address.is_none() || (*address, *id) != (d.address.as_deref(), d.id) =>
                {
                    w.push(
                        at("name"),
                        format!(
                            "droplet name {} is already used by {first} for another server (address and id differ)",
                            show(&d.name)
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    droplet_names.insert(d.name.as_str(), (at("name"), d.address.as_deref(), d.id));
                }
            }
            if let Some(a) = &d.address {
                w.check(&at("address"), a, "IPv4 address", grammar::ipv4);
            }
            if let Some(u) = &d.ssh_user {
                w.check(&at("ssh_user"), u, "SSH user", grammar::unix_user);
            }
            if let Some(a) = &d.private_address {
                w.check(&at("private_address"), a, "IPv4 address", grammar::ipv4);
            }
            if let Some(k) = &d.host_key {
                w.check(
                    &at("host_key"),
                    k,
                    "host key fingerprint",
                    grammar::host_key_fingerprint,
                );
            }
        }

        let web = env
            .droplets
            .iter()
            .filter(|d| d.role == DropletRole::Web)
            .count();
        let db_droplets: Vec<&str> = env
            .droplets
            .iter()
            .filter(|d| d.role == DropletRole::Database)
            .map(|d| d.name.as_str())
            .collect();
        match env.kind {
            EnvironmentKind::Single => {
                if web > 1 {
                    w.push(
                        at("droplets"),
                        format!("a single environment has at most 1 web droplet, found {web}; use \"type\": \"load_balanced\" for more"),
                    );
                }
                if env.load_balancer.is_some() {
                    w.push(
                        at("load_balancer"),
                        "only a load_balanced environment has a load balancer",
                    );
                }
            }
            EnvironmentKind::LoadBalanced => {
                if let Some(lb) = &env.load_balancer {
                    w.check(
                        &at("load_balancer.name"),
                        &lb.name,
                        "load balancer name",
                        grammar::droplet_name,
                    );
                    if let Some(id) = &lb.id {
                        w.check(
                            &at("load_balancer.id"),
                            id,
                            "load balancer id",
                            grammar::uuid,
                        );
                    }
                }
            }
        }

        validate_database(w, i, &env.database, &db_droplets);
    }
}

fn validate_database(w: &mut Walker, i: usize, db: &Database, db_droplets: &[&str]) {
    let at = |field: &str| format!("environments[{i}].database.{field}");
    let (name, user) = match db {
        Database::None => {
            if !db_droplets.is_empty() {
                w.push(
                    format!("environments[{i}].droplets"),
                    "has a database droplet but database.placement is \"none\"",
                );
            }
            return;
        }
        Database::SameDroplet { name, user } => (name, user),
        Database::OtherDroplet {
            droplet,
            name,
            user,
        } => {
            if !db_droplets.contains(&droplet.as_str()) {
                w.push(
                    at("droplet"),
                    format!(
                        "{} is not a droplet of this environment with \"role\": \"database\"",
                        show(droplet)
                    ),
                );
            }
            (name, user)
        }
        Database::External {
            host,
            port,
            name,
            user,
        } => {
            w.check(&at("host"), host, "database host", grammar::db_host);
            if *port == 0 {
                w.push(at("port"), "0 is not a valid TCP port; expected 1-65535");
            }
            (name, user)
        }
    };
    if !matches!(db, Database::OtherDroplet { .. }) && !db_droplets.is_empty() {
        w.push(
            format!("environments[{i}].droplets"),
            "has a database droplet but database.placement is not \"other_droplet\"",
        );
    }
    w.input(&at("name"), name, "database name", DB_NAME);
    w.input(&at("user"), user, "database user", DB_USER);
}
