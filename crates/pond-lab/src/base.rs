//! The lab's cached base roots, one per image the lab can boot
//! (`debian-12-x64`, `debian-13-x64`): what DigitalOcean's image holds
//! (systemd as PID 1, openssh-server, sudo, curl, ca-certificates, bash),
//! built once per machine with `debootstrap` from the host's own apt mirror
//! (the host's suite names mapped to the image's) and then used read-only
//! as the overlay lower layer of every droplet of that image.
//!
//! Nothing in a base works around a missing init: droplets boot it under
//! `systemd-nspawn --boot` (see `machine`), so package scripts start and
//! enable services through systemd as on a real droplet.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::sys;

/// Bump when a base's content changes; a new version is built beside the old.
pub const BASE_VERSION: u32 = 2;
const PACKAGES: &str =
    "systemd,systemd-sysv,dbus,openssh-server,sudo,curl,ca-certificates,iproute2,procps";

/// An image the lab can boot, named as DigitalOcean names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabImage {
    /// DigitalOcean's numeric id for the image (the lab's own, stable).
    pub id: u64,
    pub slug: &'static str,
    /// Debian's code name, the `debootstrap` suite.
    pub suite: &'static str,
    /// DigitalOcean's display name (`distribution` is always Debian).
    pub name: &'static str,
}

/// Every image the lab can boot, newest first.
pub const IMAGES: &[LabImage] = &[
    LabImage {
        id: 150000003,
        slug: "debian-13-x64",
        suite: "trixie",
        name: "13 x64",
    },
    LabImage {
        id: 150000001,
        slug: "debian-12-x64",
        suite: "bookworm",
        name: "12 x64",
    },
];

/// The image the lab builds when it starts (the other on first use).
pub const DEFAULT_IMAGE: &str = "debian-13-x64";

/// A lab image by slug or numeric id.
pub fn image(key: &str) -> Option<&'static LabImage> {
    IMAGES
        .iter()
        .find(|i| i.slug == key || i.id.to_string() == key)
}

/// Where the base of `image` for this version lives under `cache`.
pub fn base_dir(cache: &Path, image: &LabImage) -> PathBuf {
    cache.join(format!("debian-{}-v{BASE_VERSION}", image.suite))
}

/// The host's apt sources for Debian, as `deb URI SUITE COMPONENTS` lines
/// (from deb822 `.sources` files or `sources.list`), so droplets use the
/// same mirror as the host, with the host's suite (`bookworm`,
/// `bookworm-updates`, `bookworm-security`) renamed to `suite`. Only
/// `http://` URIs work through the apt proxy.
pub fn host_apt_sources(suite: &str) -> anyhow::Result<Vec<String>> {
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
    let lines = for_suite(&lines, suite);
    if !lines
        .iter()
        .any(|l| l.split_whitespace().nth(2) == Some(suite))
    {
        bail!(
            "found no http:// Debian mirror in /etc/apt/sources.list or /etc/apt/sources.list.d; \
             the lab builds its droplets from the host's own mirror"
        );
    }
    Ok(lines)
}

/// The Debian lines of `lines` (`deb URI SUITE COMPONENTS`) with their
/// release name replaced by `suite`, keeping `-updates`/`-security`.
fn for_suite(lines: &[String], suite: &str) -> Vec<String> {
    const RELEASES: &[&str] = &["bullseye", "bookworm", "trixie", "forky"];
    let mut out = vec![];
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [kind, uri, host_suite, components @ ..] = words.as_slice() else {
            continue;
        };
        if !uri.starts_with("http://") {
            continue;
        }
        let (release, pocket) = host_suite
            .split_once('-')
            .map_or((*host_suite, ""), |(r, p)| (r, p));
        if !RELEASES.contains(&release) {
            continue;
        }
        let renamed = if pocket.is_empty() {
            suite.to_string()
        } else {
            format!("{suite}-{pocket}")
        };
        let line = format!("{kind} {uri} {renamed} {}", components.join(" "));
        if !out.contains(&line) {
            out.push(line);
        }
    }
    out
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

/// Returns the cached base of `image`, building it first if needed
/// (70-90 s). Safe against concurrent callers: one builder per image holds
/// a lock, the build goes to a temp dir and is renamed.
pub fn ensure_base(
    cache: &Path,
    image: &LabImage,
    progress: &dyn Fn(&str),
) -> anyhow::Result<PathBuf> {
    let dir = base_dir(cache, image);
    let suite = image.suite;
    if dir.join("etc/pond-lab-base").is_file() {
        return Ok(dir);
    }
    sys::require_root("building the lab's base image")?;
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    // One builder per cache: others wait here, then find the base ready.
    let lock = std::fs::File::create(cache.join(format!(".build-{suite}.lock")))?;
    lock.lock().context("locking the base cache")?;
    if dir.join("etc/pond-lab-base").is_file() {
        return Ok(dir);
    }
    let sources = host_apt_sources(suite)?;
    let mirror = sources
        .iter()
        .find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.get(2) == Some(&suite)).then(|| w[1].to_string())
        })
        .expect("checked above");
    // Builds of this suite that were cut (Ctrl-C, kill) left their roots,
    // maybe with debootstrap's /proc and /sys still mounted: unmount, then
    // remove (the lock says no build of this suite runs now).
    if let Ok(entries) = std::fs::read_dir(cache) {
        let stale = format!(".build-{suite}-");
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&stale) {
                remove_build(&entry.path());
            }
        }
    }
    let tmp = cache.join(format!(".build-{suite}-{}", std::process::id()));
    progress(&format!(
        "Building the lab's {} base (Debian {suite}) from {mirror} (once per machine, about 90 s)",
        image.slug
    ));
    let result = (|| {
        sys::run(
            Command::new("debootstrap")
                .args(["--variant=minbase", &format!("--include={PACKAGES}"), suite])
                .arg(&tmp)
                .arg(&mirror),
        )
        .context("debootstrap failed (is the debootstrap package installed?)")?;
        customise(&tmp, &sources)
    })();
    if let Err(e) = result {
        remove_build(&tmp);
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

/// Removes a build root after unmounting whatever debootstrap mounted in
/// it (deepest first), so the removal never walks into /proc, /sys or /dev.
fn remove_build(dir: &Path) {
    let mut mounts = super::machine::mounts_under(dir);
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in &mounts {
        let _ = sys::run(Command::new("umount").arg("--lazy").arg(m));
    }
    if super::machine::mounts_under(dir).is_empty() {
        let _ = std::fs::remove_dir_all(dir);
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
    // A container has no console to log in on; sshd is the way in.
    for unit in ["console-getty.service", "getty@.service"] {
        let link = root.join("etc/systemd/system").join(unit);
        std::fs::create_dir_all(link.parent().expect("has a parent"))?;
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/dev/null", &link)?;
    }
    write(
        root,
        "etc/resolv.conf",
        "# Written by the lab at each boot: the lab's DNS on the bridge.\n",
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

    #[test]
    fn maps_the_hosts_suites_to_the_images() {
        let host: Vec<String> = [
            "deb http://deb.debian.org/debian bookworm main",
            "deb http://deb.debian.org/debian bookworm-updates main",
            "deb http://deb.debian.org/debian-security bookworm-security main",
            "deb https://tls.example/debian bookworm main",
            "deb http://ppa.example/x focal main",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            for_suite(&host, "trixie"),
            vec![
                "deb http://deb.debian.org/debian trixie main",
                "deb http://deb.debian.org/debian trixie-updates main",
                "deb http://deb.debian.org/debian-security trixie-security main",
            ]
        );
        assert_eq!(for_suite(&host, "bookworm")[0], host[0]);
        assert_eq!(image("debian-13-x64").map(|i| i.suite), Some("trixie"));
        assert_eq!(image("150000001").map(|i| i.suite), Some("bookworm"));
        assert!(image("ubuntu-24-04-x64").is_none());
        assert!(image(DEFAULT_IMAGE).is_some());
    }
}
