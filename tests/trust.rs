//! Trust boundaries on a lab droplet: code running as an environment's
//! site user (what a hacked PHP app gets) tries each escalation of the old
//! layout and fails, and the deploy, swap, break-lock and rollback that
//! follow do no harm; hooks that background a child or read stdin neither
//! hang a deploy nor hold its lock, and a slow hook is stopped; what a
//! root hook leaves in a release is sealed at every depth; team keys
//! follow pond.json on the servers.

mod common;

use common::deploy::*;
use serde_json::json;

const ROOT: &str = "/var/www/pond/projects/acme/production";

/// Run as the site user by `public/attack.php`: every attempt prints its
/// name and whether it worked.
const ATTACK: &str = r#"#!/bin/bash
root=/var/www/pond/projects/acme/production
kept="$1"
try() { local name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name yes"; else echo "$name no"; fi; }
echo "user $(id -un)"
try write_live_release touch "$root/current/public/pwned.txt"
try write_kept_release sh -c "echo pwned >> $root/releases/$kept/public/index.php"
try link_a_release ln -s / "$root/releases/20990101T000000Z-evil"
try move_a_release mv "$root/releases/$kept" "$root/releases/gone"
try repoint_current ln -sfn "releases/$kept" "$root/current"
try write_lock sh -c "echo '{\"remote_pid\": 1}' > $root/metadata/lock"
try link_state ln -s /etc/passwd "$root/metadata/state.json.tmp"
try read_state cat "$root/metadata/state.json"
try write_config touch "$root/config/evil"
try read_other_env cat /var/www/pond/projects/acme/staging/current/.env
try list_other_env ls /var/www/pond/projects/acme/staging/releases
try write_projects mkdir /var/www/pond/projects/evil
try write_etc touch /etc/pwned
try sudo sudo -n true
# What it may do: write its shared paths (and plant links there).
try write_shared sh -c "echo ok > $root/shared/storage/ok.txt"
try plant_upload_php sh -c "echo '<?php echo \"EXEC\".\"UTED\";' > $root/shared/public/uploads/evil.php"
try plant_upload_link ln -s /etc/passwd "$root/shared/public/uploads/passwd.txt"
try plant_shared_link ln -s /etc "$root/shared/storage/etc"
"#;

const ATTACK_PHP: &str = r#"<?php
header('Content-Type: text/plain');
echo shell_exec('bash ' . escapeshellarg(dirname(__DIR__) . '/attack.sh') . ' ' . escapeshellarg($_GET['kept'] ?? '') . ' 2>&1');
// PHP itself is confined to the environment's directory.
echo 'php_read_etc ', @file_get_contents('/etc/passwd') === false ? 'no' : 'yes', "\n";
echo 'php_read_other_env ', @file_get_contents('/var/www/pond/projects/acme/staging/current/.env') === false ? 'no' : 'yes', "\n";
"#;

/// Hashes of every file of a release, with owners and modes.
fn release_digest(key: &std::path::Path, addr: &str, release: &str) -> String {
    common::ssh(
        key,
        addr,
        &format!(
            "cd {ROOT}/releases/{release} && find . -path ./.pond -prune -o -type f -printf '%u %m %p\\n' | sort && find . -path ./.pond -prune -o -type f -exec sha256sum {{}} + | sort"
        ),
    )
}

#[test]
fn a_hacked_site_reaches_neither_its_releases_nor_metadata_nor_other_environments_nor_root() {
    common::require_root();
    let (_lab, api, user) = start("pond-trust-");
    let (_, addr) = droplet(&api, &user, "acme-web");
    let key = user.config.path().join("id_ed25519");
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    user.init(p, "acme", "php");
    let version = |v: &str| {
        write(p, "public/index.php", &format!("<?php echo '{v}';"));
    };
    version("v1");
    write(p, "attack.sh", ATTACK);
    write(p, "public/attack.php", ATTACK_PHP);
    write(p, "public/uploads/.gitignore", "*\n");
    write(
        p,
        "deploy/env.tmpl",
        "APP_URL={{ url }}\nAPP_SECRET=only-for-this-env\n",
    );
    let mut file = read_pond_json(p);
    file["shared_paths"] = json!(["storage", "public/uploads"]);
    file["config_files"] = json!([{"template": "deploy/env.tmpl", "target": ".env"}]);
    write_pond_json(p, &file);
    write(p, "storage/app/.gitignore", "*\n");
    user.attach(p, &addr, "shop.example.com");
    user.ok(
        p,
        &[
            "attach",
            "staging",
            "--host",
            &addr,
            "--domain",
            "staging.example.com",
        ],
    );
    user.ok(p, &["provision", "production"]);
    user.ok(p, &["provision", "staging"]);
    user.ok(p, &["deploy", "staging", "--tag", "s1"]);
    assert_eq!(
        common::http_get(&addr, "staging.example.com", "/").1,
        "v1",
        "staging serves from the same droplet"
    );
    user.ok(p, &["deploy", "production", "--tag", "v1"]);
    version("v2");
    user.ok(p, &["deploy", "production", "--tag", "v2"]);
    user.ok(p, &["swap", "production"]);
    assert_eq!(common::http_get(&addr, "shop.example.com", "/").1, "v2");
    // The inactive colour still holds v1.
    let kept = common::ssh(
        &key,
        &addr,
        &format!("basename \"$(readlink -f {ROOT}/preview)\""),
    )
    .trim()
    .to_string();
    assert!(kept.ends_with("-v1"), "{kept}");
    let kept_before = release_digest(&key, &addr, &kept);
    let etc = "sha256sum /etc/passwd /etc/shadow /etc/group /etc/gshadow /etc/sudoers; stat -c '%U %a' / /etc /var/www /var/www/pond /var/www/pond/projects";
    let etc_before = common::ssh(&key, &addr, etc);

    // The attack, as the site user through the live app.
    let (status, report) = common::http_get(
        &addr,
        "shop.example.com",
        &format!("/attack.php?kept={kept}"),
    );
    assert_eq!(status, 200, "{report}");
    let outcome = |name: &str| {
        report
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {report}"))
            .to_string()
    };
    assert_eq!(outcome("user"), "web_acme_production");
    for refused in [
        "write_live_release",
        "write_kept_release",
        "link_a_release",
        "move_a_release",
        "repoint_current",
        "write_lock",
        "link_state",
        "read_state",
        "write_config",
        "read_other_env",
        "list_other_env",
        "write_projects",
        "write_etc",
        "sudo",
        "php_read_etc",
        "php_read_other_env",
    ] {
        assert_eq!(outcome(refused), "no", "{refused} must fail:\n{report}");
    }
    for allowed in [
        "write_shared",
        "plant_upload_php",
        "plant_upload_link",
        "plant_shared_link",
    ] {
        assert_eq!(outcome(allowed), "yes", "{allowed}:\n{report}");
    }
    // What it planted in its uploads is served, if at all, as nothing
    // more than it is: no PHP runs from there, no link leaves it.
    let (status, body) = common::http_get(&addr, "shop.example.com", "/uploads/evil.php");
    assert!(
        !body.contains("EXECUTED"),
        "an uploaded .php ran ({status}): {body}"
    );
    let (_, body) = common::http_get(&addr, "shop.example.com", "/uploads/passwd.txt");
    assert!(
        !body.contains("root:"),
        "a planted link was followed: {body}"
    );

    // What follows does no harm: a deploy, a swap, a broken lock, a rollback.
    version("v3");
    user.ok(p, &["deploy", "production", "--tag", "v3"]);
    user.ok(p, &["swap", "production"]);
    version("v4");
    user.ok(p, &["deploy", "production", "--tag", "v4", "--break-lock"]);
    user.ok(p, &["rollback", "production"]);
    assert_eq!(common::http_get(&addr, "shop.example.com", "/").1, "v2");
    assert_eq!(
        common::ssh(&key, &addr, etc),
        etc_before,
        "/etc and the directories above the environments are unchanged"
    );
    assert!(
        common::ssh(
            &key,
            &addr,
            "ls /etc/pwned /var/www/pond/projects/evil 2>&1 || true"
        )
        .contains("No such file"),
    );
    assert_eq!(
        release_digest(&key, &addr, &kept),
        kept_before,
        "the kept release is byte-identical"
    );
    let owners = common::ssh(
        &key,
        &addr,
        &format!(
            "cd {ROOT} && stat -c '%n %U:%G %a' . releases metadata config shared shared/storage tmp && stat -c 'live %U:%G %a' \"$(readlink -f current)\" \"$(readlink -f current)/public/index.php\""
        ),
    );
    let release = "deploy_acme_production:web_acme_production";
    assert_eq!(
        owners,
        format!(
            ". root:web_acme_production 750\nreleases root:web_acme_production 750\nmetadata root:root 700\nconfig root:web_acme_production 750\nshared root:web_acme_production 750\nshared/storage web_acme_production:web_acme_production 2770\ntmp web_acme_production:web_acme_production 2770\nlive {release} 750\nlive {release} 640\n"
        )
    );
    // Each environment has its own pool, as its own user.
    let pools = common::ssh(&key, &addr, "ls /run/php/");
    assert!(pools.contains("web_acme_production.sock"), "{pools}");
    assert!(pools.contains("web_acme_staging.sock"), "{pools}");
    assert_eq!(
        common::http_get(&addr, "staging.example.com", "/").1,
        "v1",
        "staging still serves"
    );
}

#[test]
fn hooks_that_background_a_child_or_read_stdin_neither_hang_a_deploy_nor_hold_its_lock() {
    common::require_root();
    let (_lab, api, user) = start("pond-hooks-");
    let (_, addr) = droplet(&api, &user, "hooks-web");
    let key = user.config.path().join("id_ed25519");
    // The deploy user's `sleep` processes on the droplet, or "none".
    let sleeping = || {
        common::ssh(
            &key,
            &addr,
            "pgrep -u deploy_acme_production -x sleep || echo none",
        )
        .trim()
        .to_string()
    };
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    user.init(p, "acme", "static");
    write(p, "index.html", "v1");
    write(
        p,
        "deploy/daemon.sh",
        "set -eu\nsleep 1000 &\necho started a child\n",
    );
    write(
        p,
        "deploy/stdin.sh",
        "set -eu\nif read -r line; then echo \"read $line\"; else echo 'stdin is empty'; fi\n",
    );
    write(
        p,
        "deploy/after.sh",
        "set -eu\necho \"after, as $(id -un)\" > after.txt\n",
    );
    write(p, "deploy/slow.sh", "sleep 60\n");
    let mut file = read_pond_json(p);
    file["hooks"]["post_deploy"] =
        json!(["deploy/daemon.sh", "deploy/stdin.sh", "deploy/after.sh"]);
    write_pond_json(p, &file);
    user.attach(p, &addr, "hooks.example.com");
    user.ok(p, &["provision", "production"]);
    let started = std::time::Instant::now();
    let out = user.pond(p, &["deploy", "production", "--tag", "v1"]);
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{shown}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "the deploy waited for a hook's child"
    );
    assert!(shown.contains("stdin is empty"), "{shown}");
    assert_eq!(
        common::http_get(&addr, "hooks.example.com", "/after.txt").1,
        "after, as deploy_acme_production\n",
        "the hook after them ran"
    );
    assert_eq!(
        sleeping(),
        "none",
        "the backgrounded child ended with its hook"
    );
    // The lock is free: the next deploy takes it at once.
    write(p, "index.html", "v2");
    user.ok(p, &["deploy", "production", "--tag", "v2"]);

    // A hook past its timeout is stopped and fails the deploy; live stays.
    let mut file = read_pond_json(p);
    file["hooks"]["post_deploy"] = json!([{"script": "deploy/slow.sh", "timeout_seconds": 2}]);
    write_pond_json(p, &file);
    write(p, "index.html", "v3");
    let started = std::time::Instant::now();
    let out = user.pond(p, &["deploy", "production", "--tag", "v3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(
            "failed at step hooks: post-deploy hook deploy/slow.sh was stopped after its timeout of 2 s"
        ),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(50));
    assert_eq!(common::http_get(&addr, "hooks.example.com", "/").1, "v1");

    // A hook that ignores SIGTERM and leaves a child in a session of its
    // own doing the same is still stopped at its timeout, child and all:
    // the clock is deploy-apply's, as root, and systemd kills what is left.
    write(
        p,
        "deploy/slow.sh",
        "trap '' TERM\nsetsid bash -c \"trap '' TERM; sleep 60\" &\nsleep 60\n",
    );
    write(p, "index.html", "v4");
    let started = std::time::Instant::now();
    let out = user.pond(p, &["deploy", "production", "--tag", "v4"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "failed at step hooks: post-deploy hook deploy/slow.sh was stopped after its timeout of 2 s"
        ),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(55),
        "the hook that ignores SIGTERM held the deploy for {:?}",
        started.elapsed()
    );
    assert_eq!(common::http_get(&addr, "hooks.example.com", "/").1, "v1");
    assert_eq!(sleeping(), "none", "the hook ended with its unit");
    // The lock is free again.
    let mut file = read_pond_json(p);
    file["hooks"]["post_deploy"] = json!(["deploy/after.sh"]);
    write_pond_json(p, &file);
    user.ok(p, &["deploy", "production", "--tag", "v5"]);
}

/// Whether `key` logs in as root on `addr`.
fn can_login(key: &std::path::Path, addr: &str) -> bool {
    std::process::Command::new("ssh")
        .args([
            "-n",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
        ])
        .args([
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
        ])
        .args(["-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-i"])
        .arg(key)
        .arg(format!("root@{addr}"))
        .arg("true")
        .status()
        .unwrap()
        .success()
}

#[test]
fn team_keys_on_the_servers_follow_pond_json_and_lines_outside_the_block_stay() {
    common::require_root();
    let (_lab, api, user) = start("pond-access-");
    let (_, addr) = droplet(&api, &user, "keys-web");
    let own = user.config.path().join("id_ed25519");
    let keys = tempfile::tempdir().unwrap();
    let (alice, alice_pub) = common::keypair(keys.path(), "alice");
    let (bob, bob_pub) = common::keypair(keys.path(), "bob");
    let (carol, carol_pub) = common::keypair(keys.path(), "carol");
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    user.init(p, "acme", "static");
    write(p, "index.html", "v1");
    user.attach(p, &addr, "keys.example.com");
    // A line someone added by hand, outside Pond's block.
    common::ssh(
        &own,
        &addr,
        &format!("echo '{}' >> /root/.ssh/authorized_keys", carol_pub.trim()),
    );
    user.ok(p, &["team", "add", "alice", "--key", alice_pub.trim()]);
    user.ok(p, &["provision", "production"]);
    assert!(can_login(&alice, &addr), "provision gave alice access");
    assert!(!can_login(&bob, &addr));

    user.ok(p, &["team", "remove", "alice"]);
    user.ok(p, &["team", "add", "bob", "--key", bob_pub.trim()]);
    let status = user.ok(p, &["status", "production"]);
    assert!(
        status.contains("team keys: missing bob; 1 key(s) not in pond.json"),
        "{status}"
    );
    user.ok(p, &["access", "sync", "production"]);
    assert!(!can_login(&alice, &addr), "a removed member is refused");
    assert!(can_login(&bob, &addr), "an added member gets in");
    assert!(can_login(&carol, &addr), "the hand-added line stays");
    assert!(can_login(&own, &addr), "the syncing user keeps access");
    let status = user.ok(p, &["status", "production"]);
    assert!(status.contains("team keys: in step"), "{status}");
    let file = common::ssh(&own, &addr, "cat /root/.ssh/authorized_keys");
    let own_public = user.ok(std::path::Path::new("."), &["key", "--public"]);
    let own_blob = own_public.split_whitespace().nth(1).unwrap();
    assert_eq!(
        file.matches(own_blob).count(),
        1,
        "the user's own key (DigitalOcean put it outside the block) stays once, where it was:\n{file}"
    );
    // A deploy keeps it so, without rewriting a file already in step (the
    // same inode: common/access found it as its last sync wrote it).
    let inode = "stat -c %i /root/.ssh/authorized_keys";
    let before = common::ssh(&own, &addr, inode);
    user.ok(p, &["deploy", "production", "--tag", "v1"]);
    assert_eq!(
        common::ssh(&own, &addr, inode),
        before,
        "a file in step is left as it is"
    );
    assert!(!can_login(&alice, &addr));
    assert!(can_login(&bob, &addr));
    // A key removed by hand since comes back with the next deploy.
    let bob_blob = bob_pub.split_whitespace().nth(1).unwrap();
    common::ssh(
        &own,
        &addr,
        &format!(
            "grep -vF '{bob_blob}' /root/.ssh/authorized_keys > /root/k && cat /root/k > /root/.ssh/authorized_keys && rm /root/k"
        ),
    );
    // (Checked in the file, not by a login refused: sshd's penalties for
    // failed logins would then refuse this address for a while.)
    let file = common::ssh(&own, &addr, "cat /root/.ssh/authorized_keys");
    assert!(!file.contains(bob_blob), "{file}");
    let out = user.pond(p, &["deploy", "production", "--tag", "v2"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("team access: 1 team keys in step"), "{said}");
    assert!(can_login(&bob, &addr), "the next deploy put the key back");
    assert!(can_login(&carol, &addr), "the hand-added line stays");
}

/// What a hook leaves in a release is checked before any colour points at
/// it, at every depth (the seal's walk goes in parts): a root hook's files
/// become the deploy user's, nothing stays group- or world-writable or
/// setuid/setgid, and a file of anyone else's fails the deploy.
#[test]
fn a_release_is_sealed_whatever_a_root_hook_left_in_it() {
    common::require_root();
    let (_lab, api, user) = start("pond-seal-");
    let (_, addr) = droplet(&api, &user, "seal-web");
    let key = user.config.path().join("id_ed25519");
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    user.init(p, "acme", "static");
    write(p, "index.html", "v1");
    for dir in ["a/b/c", "a/d/e", "z/y/x", "z/w/v"] {
        write(p, &format!("{dir}/deep.txt"), dir);
    }
    write(
        p,
        "deploy/root.sh",
        "set -eu\n\
         for dir in . a/b/c a/d/e z/y/x z/w/v; do\n\
         echo root > \"$dir/made-by-root.txt\"\n\
         chmod 0666 \"$dir/made-by-root.txt\"\n\
         cp /bin/true \"$dir/setuid-tool\" && chmod 6755 \"$dir/setuid-tool\"\n\
         done\n\
         chmod 0777 index.html a/b/c/deep.txt z/y/x/deep.txt\n\
         if [ -e stranger ]; then chown nobody \"$(cat stranger)\"; fi\n\
         if [ -e dash ]; then mkdir -p -- -dash/d/e && echo root > -dash/d/e/made-by-root.txt && chmod 0666 -- -dash/d/e/made-by-root.txt; fi\n\
         if [ -e dash ]; then ln -sfn /var/tmp .pond/manifest && ln -sfn /etc/hostname .pond/stat; fi\n",
    );
    let mut file = read_pond_json(p);
    file["hooks"]["post_deploy"] = json!([{"script": "deploy/root.sh", "run_as": "root"}]);
    write_pond_json(p, &file);
    user.attach(p, &addr, "seal.example.com");
    user.ok(p, &["provision", "production"]);
    user.ok(p, &["deploy", "production", "--tag", "v1"]);
    let release = format!("{ROOT}/current/");
    let found = |test: &str| {
        common::ssh(
            &key,
            &addr,
            &format!("cd {release} && find . ! -type l {test} -printf '%p %u %m\\n' | sort"),
        )
    };
    assert_eq!(
        found("-user root"),
        "",
        "a root hook's files are the deploy user's"
    );
    assert_eq!(
        found("-perm /022"),
        "",
        "nothing is group- or world-writable"
    );
    assert_eq!(found("-perm /6000"), "", "nothing is setuid or setgid");
    let made = found("-name made-by-root.txt");
    assert_eq!(made.lines().count(), 5, "{made}");
    assert!(
        made.lines()
            .all(|l| l.ends_with(" deploy_acme_production 644")),
        "{made}"
    );

    // A file of another user's, deep in the tree: nothing is pointed at
    // the release.
    for deep in ["a/d/e/deep.txt", "z/w/v/deep.txt"] {
        write(p, "stranger", deep);
        let out = user.pond(p, &["deploy", "production", "--tag", "v2"]);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{said}");
        assert!(
            said.contains(&format!("{deep} in the new release belongs to nobody")),
            "{said}"
        );
        assert_eq!(
            common::http_get(
                &addr,
                &format!("{}.seal.example.com", secret_prefix(p)),
                "/"
            )
            .1,
            "v1",
            "the preview still serves v1"
        );
    }

    // A top directory whose name starts with "-" (no start point for the
    // walk's parts: it walks in one) is sealed all the same.
    std::fs::remove_file(p.join("stranger")).unwrap();
    write(p, "dash", "");
    user.ok(p, &["deploy", "production", "--tag", "v3"]);
    let release = common::ssh(
        &key,
        &addr,
        &format!("cd {ROOT} && readlink -f \"$(readlink preview)\""),
    );
    let dashed = common::ssh(
        &key,
        &addr,
        &format!(
            "stat -c '%U %a' -- {}/-dash/d/e/made-by-root.txt",
            release.trim()
        ),
    );
    assert_eq!(dashed.trim(), "deploy_acme_production 644");
    // The hook made the release's records links: the seal wrote them as
    // files in their place.
    let records = common::ssh(
        &key,
        &addr,
        &format!(
            "cd {}/.pond && stat -c '%F %n' manifest stat && grep -c index.html manifest",
            release.trim()
        ),
    );
    assert_eq!(
        records, "regular file manifest\nregular file stat\n1\n",
        "{records}"
    );
}
