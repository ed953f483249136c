//! What `pond scale` will do ([`ScalePlan`], built by [`plan`] without side
//! effects): the droplets to add or remove, the DigitalOcean requests
//! known before the run (sent as planned by `scale::execute`), and one line
//! per action for the confirmation, `--dry-run` and the app.

use anyhow::{Context, bail};

use crate::config::{Database, Droplet, DropletRole, EnvironmentKind, ProjectFile};
use crate::plan::{Method, Plan};
use crate::tasks::droplets::{DropletSpec, create_request, env_tags, key_fingerprints};
use crate::tasks::execute::{self, api_request};
use crate::tasks::find_env;

/// What a scale run will do; [`plan`] builds it without side effects.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScalePlan {
    pub env: String,
    pub current: u32,
    pub target: u32,
    /// Names of the droplets to create.
    pub add: Vec<String>,
    /// (name, id, address) of the droplets to delete.
    pub remove: Vec<(String, u64, String)>,
    /// The account the requests go to, and the environment's balancer.
    pub account: String,
    pub balancer_id: String,
    pub balancer_name: String,
    /// The DigitalOcean requests known before the run starts, in the order
    /// [`execute`] sends them: taking the removed droplets out of the
    /// balancer and deleting them, or creating the new ones (their SSH
    /// keys named by fingerprint). What `pond scale --dry-run` prints; the
    /// run sends these very values (the balancer change only while it still
    /// holds one of them).
    pub requests: Plan,
    /// One line per action, for the confirmation and `--dry-run`.
    pub lines: Vec<String>,
}

/// Checks that `env_name` can be scaled to `target` web droplets and lists
/// what that takes. `price_monthly` is the size's price, when known;
/// `public_line` the user's SSH public key (new droplets get it and the
/// team's).
pub fn plan(
    file: &ProjectFile,
    env_name: &str,
    target: u32,
    price_monthly: Option<f64>,
    public_line: &str,
) -> anyhow::Result<ScalePlan> {
    let (_, env) = find_env(file, env_name)?;
    let (lb, lb_id, account) = match (&env.kind, &env.load_balancer, &env.account) {
        (EnvironmentKind::LoadBalanced, Some(lb), Some(account)) if lb.id.is_some() => {
            (lb, lb.id.clone().unwrap_or_default(), account.clone())
        }
        _ => bail!(
            "{env_name} is not a load-balanced environment Pond created; pond scale needs one (pond create {env_name} --type load_balanced)"
        ),
    };
    if !(1..=20).contains(&target) {
        bail!("{target} web droplets: expected 1 to 20");
    }
    let webs: Vec<&Droplet> = env
        .droplets
        .iter()
        .filter(|d| d.role == DropletRole::Web)
        .collect();
    let current = webs.len() as u32;
    let mut add = vec![];
    let mut remove = vec![];
    let mut operations = vec![];
    let mut lines = vec![];
    if target > current {
        if matches!(env.database, Database::SameDroplet { .. }) {
            bail!(
                "each web droplet of {env_name} keeps its own MariaDB (database placement same_droplet), so a new one would start with an empty database; give the environment a database droplet first"
            );
        }
        let (Some(region), Some(size), Some(image)) = (&env.region, &env.size, &env.image) else {
            bail!("{env_name} has no region, size and image in pond.json to create droplets with");
        };
        let mut k = 1;
        while add.len() < (target - current) as usize {
            let name: String = format!("{}-{env_name}-{k}", file.name)
                .chars()
                .take(63)
                .collect();
            if !env.droplets.iter().any(|d| d.name == name) {
                add.push(name);
            }
            k += 1;
        }
        let spec = DropletSpec {
            region: region.clone(),
            size: size.clone(),
            image: image.clone(),
        };
        let keys: Vec<serde_json::Value> = key_fingerprints(file, public_line)?
            .into_iter()
            .map(serde_json::Value::String)
            .collect();
        let tags = env_tags(&file.name, env_name);
        operations = add
            .iter()
            .map(|name| create_request(&account, name, &spec, &tags, &keys))
            .collect();
        if let Some(warning) = crate::digitalocean::untested_warning(image) {
            lines.push(format!("note: {warning}"));
        }
        lines.push(
            "register your SSH public key (and the team's) with the account, unless it has them"
                .into(),
        );
        let cost = price_monthly
            .map(|p| format!(", about ${p:.2}/month each"))
            .unwrap_or_default();
        for op in &operations {
            lines.push(format!("{}{cost}", op.description));
        }
        lines.push("pin their SSH host keys, provision them, grant them database access".into());
        lines.push("copy the live release to them from a serving droplet (config files are rendered for each)".into());
        lines.push(format!(
            "health-check them, then put them behind load balancer {}",
            lb.name
        ));
    } else if target < current {
        for d in &webs[target as usize..] {
            let id = d.id.with_context(|| {
                format!(
                    "{} was not created by Pond; pond scale deletes only droplets it created",
                    d.name
                )
            })?;
            if let Some(other) = file
                .environments
                .iter()
                .find(|e| e.name != env.name && e.droplets.iter().any(|x| x.id == Some(id)))
            {
                bail!(
                    "{} also serves environment {}; pond scale deletes only droplets no other environment uses",
                    d.name,
                    other.name
                );
            }
            remove.push((d.name.clone(), id, d.address.clone().unwrap_or_default()));
        }
        let names: Vec<&str> = remove.iter().map(|(n, _, _)| n.as_str()).collect();
        let ids: Vec<u64> = remove.iter().map(|(_, id, _)| *id).collect();
        operations.push(crate::tasks::balancer::droplets(
            &account, &lb_id, &lb.name, &names, &ids, false,
        ));
        for (name, id, addr) in &remove {
            operations.push(api_request(
                &account,
                format!("delete droplet {name} (id {id}, {addr})"),
                Method::Delete,
                format!("/v2/droplets/{id}"),
                None,
            ));
        }
        lines.extend(operations.iter().map(|op| op.description.clone()));
        if !matches!(env.database, Database::None | Database::External { .. }) {
            lines.push("drop their database accounts".into());
        }
    } else {
        lines.push(format!(
            "{env_name} has {current} web droplets already; any not behind the load balancer yet are brought up and added"
        ));
    }
    lines.push(format!(
        "record {target} web droplets of {env_name} in pond.json"
    ));
    let requests = Plan {
        title: format!("scale {env_name} to {target} web droplets"),
        operations,
    };
    for op in &requests.operations {
        execute::check_api(op)?;
    }
    Ok(ScalePlan {
        env: env_name.to_string(),
        current,
        target,
        add,
        remove,
        account,
        balancer_id: lb_id,
        balancer_name: lb.name.clone(),
        requests,
        lines,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::plan::Action;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICAfg8uAIpxktHV+Pd4M13IDlJZAJlPd3YXks5NJf6uD test";
    /// `ssh-keygen -l -E md5` of [`KEY`].
    const KEY_MD5: &str = "a9:58:13:2a:62:d8:bb:e9:15:cb:20:23:80:85:c7:95";

    pub(in crate::tasks::scale) fn balanced(webs: &[(&str, u64)]) -> ProjectFile {
        let mut file: ProjectFile = serde_json::from_value(serde_json::json!({
            "schema_version": 1,
            "name": "shop",
            "stack": "php",
            "environments": [{
                "name": "live",
                "account": "agency",
                "type": "load_balanced",
                "region": "ams3", "size": "s-1vcpu-1gb", "image": "debian-12-x64",
                "domain": "shop.example.com",
                "secret_prefix": "k3v9q2x8m1zapt",
                "database": {"placement": "other_droplet", "droplet": "shop-live-db", "name": "shop", "user": "shop"},
                "droplets": [{"name": "shop-live-db", "id": 9, "role": "database", "address": "198.18.0.9"}],
                "load_balancer": {"name": "shop-live-lb", "id": "4de7ac8b-495b-4884-9a69-1050c6793cd6"}
            }]
        }))
        .expect("a load-balanced environment");
        for (name, id) in webs {
            let mut d = file.environments[0].droplets[0].clone();
            d.name = name.to_string();
            d.id = Some(*id);
            d.role = DropletRole::Web;
            d.address = Some(format!("198.18.0.{id}"));
            file.environments[0].droplets.push(d);
        }
        file
    }

    #[test]
    fn a_key_fingerprint_is_ssh_keygens_md5() {
        assert_eq!(crate::tasks::droplets::fingerprint(KEY).unwrap(), KEY_MD5);
        assert!(crate::tasks::droplets::fingerprint("ssh-ed25519 not-base64!").is_err());
    }

    #[test]
    fn scaling_out_plans_each_new_droplets_request_with_its_keys_by_fingerprint() {
        let file = balanced(&[("shop-live-1", 11)]);
        let plan = plan(&file, "live", 3, Some(6.0), KEY).unwrap();
        assert_eq!(plan.add, ["shop-live-2", "shop-live-3"]);
        assert_eq!(plan.requests.operations.len(), 2);
        let Action::Api(request) = &plan.requests.operations[1].action else {
            panic!("an API request");
        };
        assert_eq!(
            (request.method, request.path.as_str()),
            (Method::Post, "/v2/droplets")
        );
        assert_eq!(
            request.body,
            Some(serde_json::json!({
                "name": "shop-live-3", "region": "ams3", "size": "s-1vcpu-1gb",
                "image": "debian-12-x64", "ssh_keys": [KEY_MD5],
                "tags": ["pond", "pond-shop", "pond-shop-live"],
            }))
        );
        assert!(
            plan.lines.iter().any(|l| l
                == "create droplet shop-live-2 (ams3, s-1vcpu-1gb, debian-12-x64) tagged pond, pond-shop, pond-shop-live, about $6.00/month each"),
            "{:#?}",
            plan.lines
        );
        assert!(plan.requests.outline()[0].contains(r#""ssh_keys":["a9:58"#));
    }

    #[test]
    fn a_key_that_is_also_a_team_key_is_named_once() {
        let mut file = balanced(&[("shop-live-1", 11)]);
        file.team_keys.push(crate::config::TeamKey {
            name: "me".into(),
            public_key: KEY.replace(" test", " me@laptop"),
        });
        assert_eq!(
            crate::tasks::droplets::key_fingerprints(&file, KEY).unwrap(),
            [KEY_MD5]
        );
    }

    #[test]
    fn scaling_in_plans_the_balancer_then_exactly_the_droplets_it_deletes() {
        let file = balanced(&[
            ("shop-live-1", 11),
            ("shop-live-2", 12),
            ("shop-live-3", 13),
        ]);
        let plan = plan(&file, "live", 1, None, KEY).unwrap();
        let sent: Vec<(Method, &str, Option<&serde_json::Value>)> = plan
            .requests
            .operations
            .iter()
            .map(|op| match &op.action {
                Action::Api(r) => (r.method, r.path.as_str(), r.body.as_ref()),
                Action::Script { .. } => panic!("only API requests"),
            })
            .collect();
        let ids = serde_json::json!({"droplet_ids": [12, 13]});
        assert_eq!(
            sent,
            [
                (
                    Method::Delete,
                    "/v2/load_balancers/4de7ac8b-495b-4884-9a69-1050c6793cd6/droplets",
                    Some(&ids)
                ),
                (Method::Delete, "/v2/droplets/12", None),
                (Method::Delete, "/v2/droplets/13", None),
            ]
        );
        assert_eq!(
            plan.lines[..3],
            [
                "take shop-live-2, shop-live-3 out of load balancer shop-live-lb",
                "delete droplet shop-live-2 (id 12, 198.18.0.12)",
                "delete droplet shop-live-3 (id 13, 198.18.0.13)",
            ]
        );
        assert_eq!(plan.lines[3], "drop their database accounts");
    }

    #[test]
    fn a_balancer_id_that_is_not_plain_is_refused_before_anything_is_sent() {
        let mut file = balanced(&[("shop-live-1", 11), ("shop-live-2", 12)]);
        file.environments[0].load_balancer.as_mut().unwrap().id = Some("x/../../droplets".into());
        let err = plan(&file, "live", 1, None, KEY).unwrap_err().to_string();
        assert!(err.contains("is not plain"), "{err}");
    }
}
