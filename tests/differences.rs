//! Changed files go as their differences from the server's copies (issue
//! 19): the upload is compressed against the old contents this computer
//! kept, which the server rebuilds from the base release and checks before
//! it makes the release. A file a hook rewrote on the server is never
//! compressed against; a server copy that differs from what was sent (its
//! size and time kept), or is reached through a link (never read), makes
//! the server refuse the reference, changing nothing, and the same deploy
//! sends those files whole. A file changed on the server since its
//! release was built is sent again.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::deploy::*;

const ROOT: &str = "/var/www/pond/projects/diff/production";

/// A line-oriented text file of ~75 KB, as source code is (big enough for
/// one changed file to go as its differences: smaller uploads go whole).
fn text(i: usize, version: &str) -> String {
    let mut s: String = (0..3000)
        .map(|l| format!("line {l} of file {i}: {}\n", (l * 7919 + i) % 1013))
        .collect();
    s.push_str(&format!("version {version}\n"));
    s
}

fn output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What the preview host (the inactive colour) serves at `path`.
fn preview(p: &Path, addr: &str, path: &str) -> String {
    let host = format!("{}.diff.example.com", secret_prefix(p));
    common::http_get(addr, &host, path).1
}

/// The copy the next deploy starts from (of the inactive colour's
/// release, the newer one here), once it is ready: its directory.
fn next_copy(key: &Path, addr: &str) -> String {
    let base = common::ssh(
        key,
        addr,
        &format!("cd {ROOT} && readlink \"$(readlink preview)\""),
    );
    let id = base.trim().trim_start_matches("releases/").to_string();
    wait_for_spare(key, addr, &id);
    format!("{ROOT}/releases/.spare-{id}")
}

/// Waits (at most 60 s) until the background copy of release `id` is ready.
fn wait_for_spare(key: &Path, addr: &str, id: &str) {
    let started = Instant::now();
    while common::ssh(
        key,
        addr,
        &format!("test -f {ROOT}/releases/.spare-{id}.stale && echo ready || true"),
    )
    .trim()
        != "ready"
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no copy of release {id} was prepared"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn changed_files_go_as_differences_and_a_server_copy_that_differs_is_caught() {
    common::require_root();
    let (_lab, api, user) = start("pond-diff-");
    let (_, addr) = droplet(&api, &user, "diff-web");
    let key = user.config.path().join("id_ed25519");
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    user.init(p, "diff", "static");
    for i in 0..40 {
        write(p, &format!("src/f{i:02}.txt"), &text(i, "1"));
    }
    write(p, "index.html", "v1");
    // The hook rewrites a file the project has, in place, in each release.
    write(p, "stamp.txt", "local stamp\n");
    write(
        p,
        "deploy/hook.sh",
        "set -euo pipefail\necho \"stamped $(date +%s%N)\" > stamp.txt\n",
    );
    let mut file = read_pond_json(p);
    file["hooks"] = serde_json::json!({"post_deploy": ["deploy/hook.sh"]});
    write_pond_json(p, &file);
    user.attach(p, &addr, "diff.example.com");
    user.ok(p, &["provision", "production"]);
    user.ok(p, &["deploy", "production", "--tag", "v1"]);

    // Ten files changed, and the file the hook rewrites: the ten go as
    // differences, the rewritten one whole.
    for i in 0..10 {
        write(p, &format!("src/f{i:02}.txt"), &text(i, "2"));
    }
    write(p, "stamp.txt", "local stamp, changed\n");
    write(p, "index.html", "v2");
    let out = user.pond(p, &["deploy", "production", "--tag", "v2"]);
    let said = output(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("12 files to send") && said.contains("; 11 as differences)"),
        "the ten files and index.html go as differences, not the stamp: {said}"
    );
    for i in [0, 9] {
        assert_eq!(
            preview(p, &addr, &format!("/src/f{i:02}.txt")),
            text(i, "2")
        );
    }
    assert_eq!(preview(p, &addr, "/src/f10.txt"), text(10, "1"));
    assert!(preview(p, &addr, "/stamp.txt").starts_with("stamped "));
    let manifest = common::ssh(
        &key,
        &addr,
        &format!("cd {ROOT} && cat \"$(readlink \"$(readlink preview)\")/.pond/manifest\""),
    );
    assert!(
        manifest
            .lines()
            .any(|l| l.starts_with("-\t") && l.ends_with("\tstamp.txt")),
        "the rewritten file's entry names no content: {manifest}"
    );

    // On the server, the copy the next deploy starts from gets a file
    // changed with its size and time kept: the stat check cannot see it.
    // The server refuses the reference, changing nothing, and the same
    // deploy sends the files whole.
    let spare = next_copy(&key, &addr);
    common::ssh(
        &key,
        &addr,
        &format!(
            "f={spare}/src/f03.txt; t=$(stat -c %y \"$f\"); printf X | dd of=\"$f\" bs=1 seek=0 conv=notrunc status=none; touch -d \"$t\" \"$f\""
        ),
    );
    write(p, "src/f03.txt", &text(3, "3"));
    write(p, "index.html", "v3");
    let out = user.pond(p, &["deploy", "production", "--tag", "v3"]);
    let said = output(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("are not what this computer sent") && said.contains("whole instead"),
        "{said}"
    );
    assert_eq!(preview(p, &addr, "/src/f03.txt"), text(3, "3"));
    assert_eq!(preview(p, &addr, "/"), "v3");
    assert_eq!(common::http_get(&addr, "diff.example.com", "/").1, "v1");

    // What went whole is on the server as sent: it goes as its
    // differences next time.
    write(p, "src/f03.txt", &text(3, "4"));
    let out = user.pond(p, &["deploy", "production", "--tag", "v4"]);
    let said = output(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("; 1 as differences)"), "{said}");
    assert_eq!(preview(p, &addr, "/src/f03.txt"), text(3, "4"));

    // A directory of the base turned into a link (to a copy, so every
    // byte still matches): the server reads no reference through it.
    let spare = next_copy(&key, &addr);
    common::ssh(
        &key,
        &addr,
        &format!("cd {spare} && cp -a src elsewhere && rm -rf src && ln -s elsewhere src"),
    );
    write(p, "src/f03.txt", &text(3, "5"));
    let out = user.pond(p, &["deploy", "production", "--tag", "v5"]);
    let said = output(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("is reached through a link (src)") && said.contains("whole instead"),
        "{said}"
    );
    assert_eq!(preview(p, &addr, "/src/f03.txt"), text(3, "5"));

    // A file of the release changed on the server since it was built (its
    // size too), found when the next deploy's copy is made: the deploy
    // sends it again, and the rest as usual.
    let spare = next_copy(&key, &addr);
    let release = spare.rsplit_once("/.spare-").unwrap().1.to_string();
    common::ssh(
        &key,
        &addr,
        &format!(
            "cd {ROOT} && echo '# edited' >> releases/{release}/deploy/hook.sh && rm -rf releases/.spare-{release} releases/.spare-{release}.stale"
        ),
    );
    user.ok(p, &["swap", "production"]);
    wait_for_spare(&key, &addr, &release);
    let stale = common::ssh(
        &key,
        &addr,
        &format!("cat {ROOT}/releases/.spare-{release}.stale"),
    );
    assert_eq!(stale.trim(), "deploy/hook.sh", "the copy found the edit");
    write(p, "index.html", "v6");
    let out = user.pond(p, &["deploy", "production", "--tag", "v6"]);
    let said = output(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("sent 3 files"),
        "index.html, the edited file and the one the hook rewrites: {said}"
    );
    let hook = common::ssh(
        &key,
        &addr,
        &format!("cd {ROOT} && cat \"$(readlink \"$(readlink preview)\")/deploy/hook.sh\""),
    );
    assert!(!hook.contains("edited"), "{hook}");
    assert_eq!(preview(p, &addr, "/src/f03.txt"), text(3, "5"));
    assert_eq!(preview(p, &addr, "/"), "v6");

    // With keep_builds 2 the inactive colour's release is renamed into the
    // new one (no copy is prepared). A file of it changed with its size
    // and time kept: the reference is refused, the release goes back to
    // its colour, and the same deploy sends the files whole (through the
    // link to the copy, which leads within the release).
    let mut file = read_pond_json(p);
    file["keep_builds"] = serde_json::json!(2);
    write_pond_json(p, &file);
    let inactive = common::ssh(
        &key,
        &addr,
        &format!("cd {ROOT} && readlink \"$(readlink preview)\""),
    )
    .trim()
    .to_string();
    // (The copy prepared after v6, at keep_builds 5, goes.)
    let id = inactive.trim_start_matches("releases/");
    wait_for_spare(&key, &addr, id);
    common::ssh(
        &key,
        &addr,
        &format!("rm -rf {ROOT}/releases/.spare-{id} {ROOT}/releases/.spare-{id}.stale"),
    );
    common::ssh(
        &key,
        &addr,
        &format!(
            "f={ROOT}/{inactive}/src/f04.txt; t=$(stat -c %y \"$f\"); printf X | dd of=\"$f\" bs=1 seek=0 conv=notrunc status=none; touch -d \"$t\" \"$f\""
        ),
    );
    let live_before = common::http_get(&addr, "diff.example.com", "/").1;
    write(p, "src/f04.txt", &text(4, "7"));
    write(p, "index.html", "v7");
    let out = user.pond(p, &["deploy", "production", "--tag", "v7"]);
    let said = output(&out);
    assert!(out.status.success(), "{said}");
    // (src/ is the link to a copy made above: refused for that.)
    assert!(said.contains("whole instead"), "{said}");
    assert!(!said.contains("prepared after the last deploy"), "{said}");
    assert_eq!(preview(p, &addr, "/src/f04.txt"), text(4, "7"));
    assert_eq!(preview(p, &addr, "/"), "v7");
    assert_eq!(
        common::http_get(&addr, "diff.example.com", "/").1,
        live_before
    );
}
