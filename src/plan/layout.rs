//! Where an environment lives on a server and whom it runs as: its
//! directory, and its two Unix users — the site user PHP-FPM runs as (it
//! may write only the environment's shared paths and tmp) and the deploy
//! user that owns the releases and runs the hooks (PHP never runs as it).
//! Pure naming; the `common/env-users` template creates them, and
//! `common/record` writes the record of what provisioning left there.

use blake3::hash;

/// The environment's directory on its servers.
pub fn env_root(project: &str, env: &str) -> String {
    format!("/var/www/pond/projects/{project}/{env}")
}

/// Root's record of what provisioning wrote for the environment on a
/// server (`common/record`; read back by `common/status`).
pub fn provision_record(project: &str, env: &str) -> String {
    format!("/etc/pond/provisioned/{project}_{env}")
}

/// The Unix users of one environment. Names are stable (derived from the
/// project and environment names only) and distinct for distinct
/// environments: project and environment names hold no `_`, so
/// `<project>_<env>` is unambiguous; a long pair is shortened with a hash
/// of the whole pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvUsers {
    /// Runs the environment's PHP-FPM pool; owns its shared paths. Its
    /// primary group (same name) is the environment's group: the deploy
    /// user and nginx are in it, so they read the releases.
    pub site: String,
    /// Owns the release trees and runs the hooks.
    pub deploy: String,
}

/// The longest `<project>_<env>` used as is: `deploy_` + 24 = 31
/// characters, inside Linux's 32.
const MAX_BODY: usize = 24;

impl EnvUsers {
    pub fn of(project: &str, env: &str) -> EnvUsers {
        let whole = format!("{project}_{env}");
        let body = if whole.len() <= MAX_BODY {
            whole
        } else {
            let digest = hash(format!("{project}/{env}").as_bytes()).to_hex();
            // A shortened body has two `_` after its prefix when the cut
            // falls after the separator, and ends in a hash; collisions
            // with an unshortened name are refused on the server, which
            // records each user's environment in its comment.
            format!("{}_{}", &whole[..MAX_BODY - 7], &digest[..6])
        };
        EnvUsers {
            site: format!("web_{body}"),
            deploy: format!("deploy_{body}"),
        }
    }
}

/// The database name and user Pond gives an environment by default:
/// `<project>_<env>` with `-` as `_`, so environments sharing a database
/// server never share a database; the user is shortened with a hash when
/// longer than MariaDB's 32 characters.
pub fn default_db_names(project: &str, env: &str) -> (String, String) {
    let name = format!("{project}_{env}").replace('-', "_");
    let user = if name.len() <= 32 {
        name.clone()
    } else {
        let digest = hash(format!("{project}/{env}").as_bytes()).to_hex();
        format!("{}_{}", &name[..25], &digest[..6])
    };
    (name, user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_carry_the_environment_and_fit_mariadb() {
        assert_eq!(
            default_db_names("acme-shop", "staging"),
            ("acme_shop_staging".into(), "acme_shop_staging".into())
        );
        let (name, user) = default_db_names("a-very-long-project-name-for-a-client", "production");
        assert!(crate::config::grammar::db_name(&name).is_ok(), "{name}");
        assert!(crate::config::grammar::db_user(&user).is_ok(), "{user}");
        assert_ne!(
            user,
            default_db_names("a-very-long-project-name-for-a-client", "production-eu").1
        );
    }

    #[test]
    fn short_names_read_as_project_and_environment() {
        let users = EnvUsers::of("shop", "production");
        assert_eq!(users.site, "web_shop_production");
        assert_eq!(users.deploy, "deploy_shop_production");
    }

    #[test]
    fn long_names_fit_linux_and_stay_distinct() {
        let project = "a-very-long-project-name-for-a-client";
        let a = EnvUsers::of(project, "production");
        let b = EnvUsers::of(project, "production-eu");
        for name in [&a.site, &a.deploy, &b.site, &b.deploy] {
            assert!(name.len() <= 32, "{name}");
            assert!(crate::config::grammar::unix_user(name).is_ok(), "{name}");
        }
        assert_ne!(a.site, b.site);
        assert_eq!(a, EnvUsers::of(project, "production"), "stable");
        // `a-b`/`c` and `a`/`b-c` are different environments.
        assert_ne!(EnvUsers::of("a-b", "c"), EnvUsers::of("a", "b-c"));
    }
}
