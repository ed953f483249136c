//! The lab's cached Debian 12 base root: what a fresh cloud server has
//! (openssh-server, sudo, curl, ca-certificates, bash), built once per
//! machine with `debootstrap` from the host's own apt mirror and then used
//! read-only as the overlay lower layer of every droplet.
//!
//! The root is prepared for life without systemd: a `policy-rc.d` that lets
//! package scripts start daemons, a `runlevel` that answers `N 2`, and a
//! small PID 1 (`/usr/local/sbin/pond-lab-init`) that starts sshd and every
//! service linked in `/etc/rc2.d`, reaps orphans, and stops them on TERM.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::sys;

/// Bump when the base's content changes; a new version is built beside the old.
pub const BASE_VERSION: u32 = 1;
const SUITE: &str = "bookworm";
const PACKAGES: &str = "openssh-server,sudo,curl,ca-certificates,iproute2,procps";

/// The droplet's PID 1. Runs under bash inside the droplet's namespaces.
pub const INIT_SCRIPT: &str = include_str!("droplet-init.sh");

/// Where the base for this version lives under `cache`.
pub fn base_dir(cache: &Path) -> PathBuf {
    cache.join(format!("debian-{SUITE}-v{BASE_VERSION}"))
}

/// The host's apt sources for Debian, as `deb URI SUITE COMPONENTS` lines
/// (from deb822 `.sources` files or `sources.list`), so droplets use the
/// same mirror as the host. Only `http://` URIs work through the apt proxy.
pub fn host_apt_sources() -> anyhow::Result<Vec<String>> {
    let mut lines = vec![];
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if file.extension().is_some_and(|e| e == "sources") {
            lines.extend(parse_deb822(&text));
        } else {
            lines.extend(parse_one_line(&text));
        }
    }
    lines.retain(|l| l.contains(&format!(" {SUITE}")) && l.contains("http://"));
    if !lines
        .iter()
        .any(|l| l.split_whitespace().nth(2) == Some(SUITE))
    {
        bail!(
            "found no http:// Debian {SUITE} mirror in /etc/apt/sources.list or /etc/apt/sources.list.d; \
             the lab builds its droplets from the host's own mirror"
        );
    }
    Ok(lines)
}

fn parse_one_line(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("deb "))
        .map(|l| {
            // Drop `[signed-by=...]` options.
            let words: Vec<&str> = l
                .split_whitespace()
                .filter(|w| !w.starts_with('[') && !w.ends_with(']'))
                .collect();
            words.join(" ")
        })
        .collect()
}

fn parse_deb822(text: &str) -> Vec<String> {
    let mut out = vec![];
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
                .map(|v| v.trim().to_string())
        };
        if field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"))
            && field("Enabled").is_none_or(|e| e != "no")
        {
            let (Some(uris), Some(suites)) = (field("URIs"), field("Suites")) else {
                continue;
            };
            let components = field("Components").unwrap_or_else(|| "main".into());
            for uri in uris.split_whitespace() {
                for suite in suites.split_whitespace() {
                    out.push(format!("deb {uri} {suite} {components}"));
                }
            }
        }
    }
    out
}

/// Returns the cached base, building it first if needed (70-90 s). Safe
/// against concurrent callers: the build goes to a temp dir and is renamed.
pub fn ensure_base(cache: &Path, progress: &dyn Fn(&str)) -> anyhow::Result<PathBuf> {
    let dir = base_dir(cache);
    if dir.join("etc/pond-lab-base").is_file() {
        return Ok(dir);
    }
    sys::require_root("building the lab's base image")?;
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    // One builder per cache: others wait here, then find the base ready.
    let lock = std::fs::File::create(cache.join(".build.lock"))?;
    lock.lock().context("locking the base cache")?;
    if dir.join("etc/pond-lab-base").is_file() {
        return Ok(dir);
    }
    let sources = host_apt_sources()?;
    let mirror = sources
        .iter()
        .find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.get(2) == Some(&SUITE)).then(|| w[1].to_string())
        })
        .expect("checked above");
    let tmp = cache.join(format!(".build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    progress(&format!(
        "Building the lab's Debian {SUITE} base from {mirror} (once per machine, about 90 s)"
    ));
    let result = (|| {
        sys::run(
            Command::new("debootstrap")
                .args(["--variant=minbase", &format!("--include={PACKAGES}"), SUITE])
                .arg(&tmp)
                .arg(&mirror),
        )
        .context("debootstrap failed (is the debootstrap package installed?)")?;
        customise(&tmp, &sources)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another builder won the race: use theirs.
        Err(_) if dir.join("etc/pond-lab-base").is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => Err(e).with_context(|| format!("moving the base into {}", dir.display())),
    }
}

fn write(root: &Path, rel: &str, text: &str, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn customise(root: &Path, sources: &[String]) -> anyhow::Result<()> {
    write(
        root,
        "usr/sbin/policy-rc.d",
        "#!/bin/sh\n# Lab droplets have no systemd: let package scripts start daemons.\nexit 0\n",
        0o755,
    )?;
    write(root, "sbin/runlevel", "#!/bin/sh\necho \"N 2\"\n", 0o755)?;
    write(
        root,
        "etc/apt/sources.list",
        &format!("{}\n", sources.join("\n")),
        0o644,
    )?;
    write(
        root,
        "etc/apt/apt.conf.d/10pond-lab",
        "Acquire::Check-Valid-Until \"false\";\nDPkg::Lock::Timeout \"300\";\n",
        0o644,
    )?;
    write(root, "usr/local/sbin/pond-lab-init", INIT_SCRIPT, 0o755)?;
    write(
        root,
        "etc/resolv.conf",
        "# Lab droplets resolve nothing; apt goes through the host's proxy.\n",
        0o644,
    )?;
    for entry in std::fs::read_dir(root.join("etc/ssh"))? {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("ssh_host_"))
        {
            std::fs::remove_file(path)?;
        }
    }
    let _ = std::fs::remove_dir_all(root.join("var/cache/apt/archives"));
    std::fs::create_dir_all(root.join("var/cache/apt/archives/partial"))?;
    write(
        root,
        "etc/pond-lab-base",
        &format!("{BASE_VERSION}\n"),
        0o644,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_deb822_and_one_line_sources() {
        let deb822 = "Types: deb\n# comment\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /x.gpg\n\nTypes: deb-src\nURIs: http://x/debian\nSuites: bookworm\n";
        assert_eq!(
            parse_deb822(deb822),
            vec![
                "deb http://deb.debian.org/debian bookworm main",
                "deb http://deb.debian.org/debian bookworm-updates main"
            ]
        );
        let list = "# c\ndeb [signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\ndeb-src http://x bookworm main\n";
        assert_eq!(
            parse_one_line(list),
            vec!["deb http://mirror.example/debian bookworm main contrib"]
        );
    }
}
