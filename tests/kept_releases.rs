//! Kept releases stay exactly as they were built (issue 19): at the
//! default `keep_builds`, with a post-deploy hook that rewrites files in
//! place, through first deploys, back-to-back deploys, swaps, rollbacks and
//! deploys that start from the copy prepared in the background (of the
//! newer colour's release, so each upload is one change); then
//! `rollback --to` each kept release serves exactly its files (hashes taken
//! right after it was built). Links a hook leaves in its release lead no
//! later deploy into the live release.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::deploy::*;

const ROOT: &str = "/var/www/pond/projects/kept/production";

/// `sha256sum` of every file of a release (outside `.pond/`), sorted.
fn hashes(key: &Path, addr: &str, release: &str) -> String {
    common::ssh(
        key,
        addr,
        &format!(
            "cd {ROOT}/{release} && find . -path ./.pond -prune -o -type f -print0 | sort -z | xargs -0 sha256sum"
        ),
    )
}

/// The same hashes, or a failure naming only the files that differ.
fn assert_unchanged(now: &str, then: &str, what: &str) {
    let (now, then): (Vec<&str>, Vec<&str>) = (now.lines().collect(), then.lines().collect());
    let differ: Vec<&&str> = now
        .iter()
        .filter(|l| !then.contains(l))
        .chain(then.iter().filter(|l| !now.contains(l)))
        .collect();
    assert!(differ.is_empty(), "{what} is not as built: {differ:#?}");
}

/// What the live colour holds (`releases/<id>`).
fn live(key: &Path, addr: &str) -> String {
    common::ssh(
        key,
        addr,
        &format!("readlink {ROOT}/current | xargs -I{{}} readlink {ROOT}/{{}}"),
    )
    .trim()
    .to_string()
}

/// What the inactive colour holds (`releases/<id>`).
fn inactive(key: &Path, addr: &str) -> String {
    common::ssh(
        key,
        addr,
        &format!(
            "cd {ROOT} && if [ \"$(readlink current)\" = blue ]; then readlink green; else readlink blue; fi"
        ),
    )
    .trim()
    .to_string()
}

/// What the next deploy starts from: the newer of the colours' releases.
fn next_base(key: &Path, addr: &str) -> String {
    common::ssh(
        key,
        addr,
        &format!(
            "cd {ROOT} && for c in blue green; do readlink $c; done | grep -v 00000000T000000Z-empty | sort | tail -n1"
        ),
    )
    .trim()
    .to_string()
}

/// Waits (at most 60 s) until the copy of the next deploy's base is ready.
fn wait_for_spare(key: &Path, addr: &str) {
    let started = Instant::now();
    loop {
        let from = next_base(key, addr);
        let id = from.trim_start_matches("releases/");
        let ready = common::ssh(
            key,
            addr,
            &format!("test -d {ROOT}/releases/.spare-{id} && echo ready || true"),
        );
        if ready.trim() == "ready" {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no copy of {from} was prepared: {}",
            common::ssh(key, addr, &format!("ls -la {ROOT}/releases/"))
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn kept_releases_stay_as_built_and_each_rolls_back_exactly() {
    common::require_root();
    let (_lab, api, user) = start("pond-kept-");
    let (_, addr) = droplet(&api, &user, "kept-web");
    let key = user.config.path().join("id_ed25519");
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    user.init(p, "kept", "static");
    for i in 0..300 {
        write(
            p,
            &format!("assets/a{:02}/f{i}.txt", i % 20),
            &format!("asset {i}"),
        );
    }
    // The hook rewrites two files in place in each new release (truncate,
    // append): were any kept release sharing their inodes, it would change.
    write(
        p,
        "deploy/hook.sh",
        "set -euo pipefail\ndate +%s%N > built.txt\necho \"built $(cat index.html)\" >> history.txt\n",
    );
    write(p, "history.txt", "history\n");
    let mut file = read_pond_json(p);
    assert_eq!(file["keep_builds"], 5, "pond init's default");
    file["hooks"] = serde_json::json!({"post_deploy": ["deploy/hook.sh"]});
    write_pond_json(p, &file);
    user.attach(p, &addr, "kept.example.com");
    user.ok(p, &["provision", "production"]);

    let mut built: BTreeMap<String, (String, String)> = BTreeMap::new(); // id -> (version, hashes)
    let mut deploy = |version: &str, wait: bool| {
        write(p, "index.html", version);
        if wait && !built.is_empty() {
            wait_for_spare(&key, &addr);
        }
        let out = user.pond(p, &["deploy", "production", "--tag", version]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "deploy {version}: {text}");
        if wait {
            assert!(
                text.contains("prepared after the last deploy or swap"),
                "deploy {version} after a wait starts from the prepared copy: {text}"
            );
        }
        let release = inactive(&key, &addr);
        let release = if built.is_empty() {
            // The first deploy: both colours hold it.
            live(&key, &addr)
        } else {
            release
        };
        assert!(release.contains(version), "{release} for {version}");
        built.insert(
            release.clone(),
            (version.to_string(), hashes(&key, &addr, &release)),
        );
    };
    // First deploy; the next one right after it (both colours on one
    // release), one back to back, then swaps between deploys, a rollback
    // and a deploy after it.
    deploy("v1", false);
    deploy("v2", true);
    deploy("v3", false);
    user.ok(p, &["swap", "production"]);
    deploy("v4", true);
    user.ok(p, &["swap", "production"]);
    deploy("v5", false);
    user.ok(p, &["rollback", "production"]);
    deploy("v6", true);
    user.ok(p, &["swap", "production"]);
    deploy("v7", true);

    // No prepared copy is listed as a release.
    let releases = user.ok(p, &["releases", "production"]);
    assert!(!releases.contains("spare"), "{releases}");

    // Each release still on the server is exactly as built; rolled back
    // to, it serves its own index and exactly its files.
    let kept: Vec<String> = common::ssh(
        &key,
        &addr,
        &format!("cd {ROOT}/releases && ls -d [0-9]* | grep -v 00000000T000000Z-empty"),
    )
    .lines()
    .map(|id| format!("releases/{id}"))
    .collect();
    assert!(kept.len() >= 5, "keep_builds 5 keeps five: {kept:?}");
    for release in &kept {
        let (version, hashes_then) = built
            .get(release)
            .unwrap_or_else(|| panic!("{release} was not built by this test"));
        assert_unchanged(&hashes(&key, &addr, release), hashes_then, release);
        let id = release.trim_start_matches("releases/");
        if live(&key, &addr) != *release {
            user.ok(p, &["rollback", "production", "--to", id]);
        }
        assert_eq!(
            common::http_get(&addr, "kept.example.com", "/").1,
            *version,
            "rollback --to {id}"
        );
        assert_unchanged(
            &hashes(&key, &addr, "current/"),
            hashes_then,
            "the live release",
        );
    }
}

/// A link into another release is refused where a hook makes it; and
/// links standing in a release's base where the project has directories,
/// leading into the live release (as one into shared/ can be led on by the
/// site user), get no deploy to write there: the upload replaces such a
/// link with a directory, removals under it are left alone, and a shared
/// path below one is linked in the new release itself.
#[test]
fn links_in_a_release_lead_no_later_deploy_into_the_live_release() {
    common::require_root();
    let (_lab, api, user) = start("pond-linked-");
    let (_, addr) = droplet(&api, &user, "linked-web");
    let key = user.config.path().join("id_ed25519");
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    user.init(p, "kept", "static");
    write(p, "index.html", "v1");
    write(p, "app/page.txt", "one");
    write(p, "public/gone.txt", "bye");
    let mut file = read_pond_json(p);
    file["shared_paths"] = serde_json::json!(["public/uploads"]);
    write_pond_json(p, &file);
    user.attach(p, &addr, "kept.example.com");
    user.ok(p, &["provision", "production"]);
    user.ok(p, &["deploy", "production", "--tag", "v1"]);
    let first = live(&key, &addr);
    let live_then = hashes(&key, &addr, &first);
    let live_listing = || {
        common::ssh(
            &key,
            &addr,
            &format!(
                "cd {ROOT}/{first} && find . -path ./.pond -prune -o -printf '%y %p\\n' | sort"
            ),
        )
    };
    let listing_then = live_listing();

    // A hook that makes app/ a link into the live release fails its deploy.
    write(
        p,
        "deploy/link.sh",
        "set -eu\nlive=\"$(readlink -f \"$POND_ENV_DIR/current\")\"\nrm -rf app\nln -s \"$live/app\" app\n",
    );
    let mut file = read_pond_json(p);
    file["hooks"] = serde_json::json!({"post_deploy": ["deploy/link.sh"]});
    write_pond_json(p, &file);
    write(p, "index.html", "v2");
    let out = user.pond(p, &["deploy", "production", "--tag", "v2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr
            .contains("failed at step seal: app in the new release is a link into another release"),
        "{stderr}"
    );
    file["hooks"] = serde_json::json!({});
    write_pond_json(p, &file);
    user.ok(p, &["deploy", "production", "--tag", "v2"]);
    let second = inactive(&key, &addr);
    assert!(second.contains("v2"), "{second}");

    // In the copy the next deploy starts from, app/ and public/ become
    // links into the live release (made as the deploy user).
    wait_for_spare(&key, &addr);
    let spare = format!(
        "{ROOT}/releases/.spare-{}",
        second.trim_start_matches("releases/")
    );
    common::ssh(
        &key,
        &addr,
        &format!(
            "cd {spare} && setpriv --reuid=deploy_kept_production --regid=$(id -g deploy_kept_production) --init-groups -- sh -c 'rm -rf app public && ln -s {ROOT}/{first}/app app && ln -s {ROOT}/{first}/public public'"
        ),
    );
    let kind = |release: &str, path: &str| {
        common::ssh(&key, &addr, &format!("stat -c %F {ROOT}/{release}/{path}"))
            .trim()
            .to_string()
    };

    // v3 changes a file under app/ and removes one under public/, where
    // the shared path public/uploads is.
    write(p, "app/page.txt", "two");
    std::fs::remove_file(p.join("public/gone.txt")).unwrap();
    let out = user.pond(p, &["deploy", "production", "--tag", "v3"]);
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("prepared after the last deploy or swap"),
        "{shown}"
    );
    let third = inactive(&key, &addr);
    assert!(third.contains("v3"), "{third}");

    // The live release is exactly as built, with nothing added.
    assert_eq!(live(&key, &addr), first);
    assert_unchanged(&hashes(&key, &addr, &first), &live_then, "the live release");
    assert_eq!(
        live_listing(),
        listing_then,
        "nothing was added to the live release"
    );
    // v3 has directories of its own there.
    assert_eq!(kind(&third, "app"), "directory");
    assert_eq!(kind(&third, "public"), "directory");
    assert_eq!(
        common::ssh(&key, &addr, &format!("cat {ROOT}/{third}/app/page.txt")),
        "two"
    );
    assert_eq!(
        common::ssh(
            &key,
            &addr,
            &format!("readlink {ROOT}/{third}/public/uploads")
        )
        .trim(),
        format!("{ROOT}/shared/public/uploads")
    );
}
