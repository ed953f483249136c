//! The one-line endings of commands that change an environment: what
//! happened, on how many servers, in how long ("green is live on 2 servers
//! in 0.31 s").

use pond::config::DropletRole;
use pond::tasks::Connected;

/// Seconds since `started`, as "0.31 s" (or "1 min 05 s" past a minute).
pub(super) fn took(started: std::time::Instant) -> String {
    let secs = started.elapsed().as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.2} s")
    } else {
        format!("{} min {:02} s", secs as u64 / 60, secs as u64 % 60)
    }
}

/// "1 server", "3 servers".
pub(super) fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// How many of the connected servers serve the site.
pub(super) fn web_count(connected: &[Connected]) -> usize {
    connected
        .iter()
        .filter(|c| c.server.role == DropletRole::Web)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_counts_read_naturally() {
        assert!(took(std::time::Instant::now()).ends_with(" s"));
        assert_eq!(plural(1, "server"), "1 server");
        assert_eq!(plural(2, "server"), "2 servers");
    }
}
