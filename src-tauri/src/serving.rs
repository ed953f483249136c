//! What serves an environment now, for the app's views: its URLs with
//! `https://` once a certificate is in place, and a load-balanced
//! environment's HTTPS line, read from its balancer through the account's
//! API ([`pond::tasks::lb_tls`]).

use pond::config::{Environment, ProjectFile};
use pond::tasks::operate::{ServedUrls, ServerStatus};
use pond::tasks::{Connected, lb_tls, operate, state};

/// A client for the environment's account when its balancer's HTTPS is
/// Pond's to read (`None` otherwise, or without the token).
fn balancer_api(env: &Environment) -> Option<pond::digitalocean::Client> {
    lb_tls::balancer_to_secure(env)?;
    crate::wizard::client_for(env.account.as_deref()?, None).ok()
}

/// The URLs as served now, asking the servers (or the balancer).
pub async fn urls(file: &ProjectFile, env: &Environment, connected: &[Connected]) -> ServedUrls {
    let api = balancer_api(env);
    operate::served_urls(file, env, connected, api.as_ref()).await
}

/// What the status panel shows above the servers of a load-balanced
/// environment.
pub struct Balancer {
    /// Its HTTPS line ([`lb_tls::describe`]).
    pub line: String,
    pub needs_attention: bool,
    /// It serves HTTPS for the domain and the preview hosts.
    pub serves: bool,
}

pub async fn balancer(env: &Environment) -> Option<Balancer> {
    let lb = lb_tls::balancer_to_secure(env)?;
    let api = balancer_api(env)?;
    let now = state::unix_now() as i64;
    Some(match lb_tls::read(&api, lb).await {
        Ok(t) => Balancer {
            line: lb_tls::describe(&env.name, &env.domain, &t, now),
            needs_attention: lb_tls::needs_attention(&env.name, &env.domain, &t, now).is_some(),
            serves: t.serves(&env.domain),
        },
        Err(e) => Balancer {
            line: format!("UNREADABLE — {e:#}"),
            needs_attention: true,
            serves: false,
        },
    })
}

/// The URLs the status just read says are served: the first server that
/// reports its certificates decides (all run the same setup), or the
/// balancer for a load-balanced environment.
pub fn urls_from_status(
    env: &Environment,
    statuses: &[ServerStatus],
    balancer_serves: bool,
) -> ServedUrls {
    if env.kind == pond::config::EnvironmentKind::LoadBalanced {
        return ServedUrls::new(env, balancer_serves, balancer_serves);
    }
    let tls = statuses.iter().find_map(|s| s.tls.as_ref());
    ServedUrls::new(
        env,
        tls.is_some_and(|t| t.serving),
        tls.and_then(|t| t.previews.as_ref())
            .is_some_and(|p| p.serving),
    )
}
