#!/usr/bin/env python3
"""Deploy benchmark: Pond against the tools a user would pick instead,
measured side by side on one lab droplet in the same run.

  1. first deploy of a ~20k-file / ~200 MB tree:  pond deploy  vs  tar | zstd -1 | ssh 'zstd -d | tar x'
  2. one file changed:                            pond deploy  vs  rsync -az --delete -e ssh (into a copy of the live release)
  3. 100 files changed:                           pond deploy  vs  rsync -az --delete -e ssh
  4. swap, server side (from the swap script's own clock)

With --composer (issue 19) the project is a Composer app: its own code
(app/, ~500 files) and 40 packages (~5,000 files) that Composer installs
on the server from the project's artifacts/ (zips, as packagist's would
come; the lab has no internet) in a post-deploy hook (`composer install
--no-dev`), vendor/ in .pondignore; its baseline is what a user without
Pond runs: rsync (or the tar pipe), then `composer install` over ssh.

With --php (issue 19) the project is a PHP app (php stack, ~5,500 files,
~37 MB by default) with a post-deploy hook that rewrites a config cache in
the release in place, at the default keep_builds; the incremental cases
are measured twice: right after a first deploy (both colours on one
release, as after `pond create`) and in steady state (after a swap). Before
each measured Pond deploy the bench waits until the server's background
work (old releases deleted, the next deploy's copy prepared) is done, as it
is by the time a user has edited a file; one more row deploys back to back
without waiting.

The baselines write on the droplet's disk next to Pond's releases (under
/var/www), not to /tmp, which is a tmpfs on Debian 13 (before 2026-12-06
they wrote to /tmp, in memory, while Pond wrote to disk).

Each comparison runs REPS times, alternating the two tools; the table shows
min and median wall time, bytes received by the droplet (eth0 rx, read on
the droplet before and after), and the ratio Pond / baseline. Needs root
(the lab). Usage: benches/deploy.py [--files N] [--mb M] [--reps R]
"""

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from lablib import api_call, lab_up

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POND = os.environ.get("POND", os.path.join(ROOT, "target/release/pond"))


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--keep", type=int, default=None, help="keep_builds of the benchmarked project (default: pond's)")
    ap.add_argument("--php", action="store_true", help="a PHP app with a post-deploy hook (issue 19)")
    ap.add_argument("--composer", action="store_true", help="a Composer app whose hook installs vendor/ on the server (issue 19)")
    args = ap.parse_args()
    args.php = args.php or args.composer
    if args.php and args.files == 20000:
        args.files, args.mb = 5500, 37
    work = tempfile.mkdtemp(prefix="pond-bench-", dir="/var/tmp")
    lab = os.path.join(work, "lab")
    cfg = os.path.join(work, "config")
    env = dict(os.environ, POND_CONFIG_DIR=cfg)
    try:
        bench(args, work, lab, cfg, env)
    finally:
        subprocess.run([POND, "lab", "destroy", "--dir", lab], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def bench(args, work, lab, cfg, env):
    api = lab_up(POND, lab, env)

    def call(method, path, body=None):
        return api_call(api, method, path, body)

    public = run([POND, "key", "--public"], env=env).stdout.strip()
    key_file = os.path.join(cfg, "id_ed25519")
    kid = call("POST", "/account/keys", {"name": "bench", "public_key": public})["ssh_key"]["id"]
    d = call("POST", "/droplets", {"name": "bench-web", "size": "s-2vcpu-4gb", "image": "debian-13-x64",
                                   "ssh_keys": [kid], "tags": ["bench"]})["droplet"]
    while call("GET", f"/droplets/{d['id']}")["droplet"]["status"] != "active":
        time.sleep(0.1)
    addr = call("GET", f"/droplets/{d['id']}")["droplet"]["networks"]["v4"][0]["ip_address"]
    ssh = ["ssh", "-i", key_file, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
           "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"root@{addr}"]

    def remote(cmd):
        return run(ssh + [cmd]).stdout

    def rx():
        # /proc/net/dev is the droplet's own network namespace's.
        return int(remote("awk '$1 == \"eth0:\" { print $2 }' /proc/net/dev"))

    project = os.path.join(work, "app")
    rng = random.Random(42)
    paths = make_project(project, args, rng)
    run([POND, "init", "--dir", project, "--name", "bench", "--stack", "php" if args.php else "static"], env=env)
    pond_json = os.path.join(project, "pond.json")
    with open(pond_json) as f:
        settings = json.load(f)
    if args.keep is not None:
        settings["keep_builds"] = args.keep
    keep = settings.get("keep_builds", "default")
    if args.php:
        settings["web_root"] = "public"
        hook = "deploy/composer.sh" if args.composer else "deploy/config-cache.sh"
        settings.setdefault("hooks", {})["post_deploy"] = [hook]
    with open(pond_json, "w") as f:
        json.dump(settings, f, indent=2)
    if args.composer:
        with open(os.path.join(project, ".pondignore"), "a") as f:
            f.write("# Installed on the server by the post-deploy hook:\n/vendor/\n")
    run([POND, "attach", "production", "--host", addr, "--domain", "bench.example.com", "--project", project], env=env)
    run([POND, "provision", "production", "--project", project], env=env)
    remote("DEBIAN_FRONTEND=noninteractive apt-get install -y -q rsync zstd >/dev/null 2>&1")
    # Composer, as the baselines run it (root, so allowed explicitly).
    composer = "COMPOSER_ALLOW_SUPERUSER=1 composer install --no-dev --no-interaction --no-progress -q"
    if args.composer:
        # composer.lock, made where Composer is (the droplet), from the
        # project's composer.json and artifacts.
        lockgen = "/var/www/pond-baseline/lockgen"
        subprocess.run(f"tar -C {project} -cf - composer.json artifacts | {' '.join(ssh)} "
                       f"'rm -rf {lockgen} && mkdir -p {lockgen} && tar -x -C {lockgen} && cd {lockgen} && "
                       f"COMPOSER_ALLOW_SUPERUSER=1 composer update --no-install --no-interaction --no-progress -q'",
                       shell=True, check=True)
        with open(os.path.join(project, "composer.lock"), "w") as f:
            f.write(remote(f"cat {lockgen}/composer.lock"))
    env_dir = "/var/www/pond/projects/bench/production"
    rows = []

    def measure(label, pond_cmd, base_name, base_cmd, prepare=None):
        results = {"pond": [], base_name: []}
        for rep in range(args.reps):
            for tool in (["pond", base_name] if rep % 2 == 0 else [base_name, "pond"]):
                if prepare:
                    prepare(tool, rep)
                if tool != "pond":
                    # Pond's background work after its last run (the next
                    # deploy's copy) is over before a baseline is timed.
                    settle()
                before = rx()
                start = time.perf_counter()
                (pond_cmd if tool == "pond" else base_cmd)(rep)
                wall = time.perf_counter() - start
                results[tool].append((wall, rx() - before))
        p, b = results["pond"], results[base_name]
        pw, bw = statistics.median(w for w, _ in p), statistics.median(w for w, _ in b)
        pb, bb = statistics.median(x for _, x in p), statistics.median(x for _, x in b)
        rows.append((label, "pond", min(w for w, _ in p), pw, pb, base_name, min(w for w, _ in b), bw, bb, pw / bw, pb / max(bb, 1)))
        print(f"  {label}: pond {pw:.3f}s/{pb}B vs {base_name} {bw:.3f}s/{bb}B", file=sys.stderr)

    counter = [0]

    def pond_deploy(_rep=0):
        counter[0] += 1
        out = run([POND, "deploy", "production", "--tag", f"b{counter[0]}", "--project", project], env=env)
        if env.get("POND_TRACE"):
            print(out.stderr, file=sys.stderr)

    def settle():
        # The server's background work after a deploy or swap (old releases
        # deleted, the copy the next deploy starts from), as done by the
        # time a user has edited a file. Bounded: 60 s.
        remote("for _ in $(seq 600); do if ! systemctl list-units --plain --no-legend 'pond-spare-*' | grep -q . && "
               "! pgrep -f 'rm -rf -- releases/[.]old-' >/dev/null; then exit 0; fi; sleep 0.1; done; exit 1")

    def fresh_env():
        settle()
        remote(f"rm -rf {env_dir} && sync")
        run([POND, "provision", "production", "--project", project], env=env)

    # The baselines write where Pond's releases are, on the droplet's disk
    # (/tmp is a tmpfs on Debian 13: writing there would race Pond's disk
    # with memory), into a fresh directory, as Pond's first deploy does.
    baseline = "/var/www/pond-baseline"
    tar_pipe = f"tar -C {project} -cf - . | zstd -1 -q | {' '.join(ssh)} 'mkdir {baseline}/tarcopy && zstd -dq | tar -x -C {baseline}/tarcopy'"
    if args.composer:
        tar_pipe = tar_pipe[:-1] + f" && cd {baseline}/tarcopy && {composer}'"

    def first_prepare(tool, _rep):
        # A fresh environment (Pond) or directory (the tar pipe) each time,
        # the old one's deletion finished before the clock starts.
        if tool == "pond":
            fresh_env()
        else:
            remote(f"rm -rf {baseline}/tarcopy && mkdir -p {baseline} && sync")

    print("1. first deploy", file=sys.stderr)
    measure("first deploy (all files)", pond_deploy, "tar + zstd + ssh" + (" + composer install" if args.composer else ""),
            lambda _r: subprocess.run(tar_pipe, shell=True, check=True), first_prepare)

    remote(f"rm -rf {baseline}/rsynccopy && cp -a {env_dir}/current/ {baseline}/rsynccopy")
    rsync = ["rsync", "-az", "--delete", "--exclude", "pond.json", "--exclude", ".pondignore", "-e", " ".join(ssh[:-1]), project + "/", f"root@{addr}:{baseline}/rsynccopy/"]
    if args.composer:
        rsync[3:3] = ["--exclude", "/vendor/"]

    def change(n):
        for path in rng.sample(paths, n):
            with open(path, "a") as f:
                f.write(" changed")

    def after_first_deploy(n):
        # Pond: the state right after `pond create` (one first deploy: both
        # colours on one release), then n files changed. rsync: n more
        # files changed in its copy's source.
        def prepare(tool, _rep):
            if tool == "pond":
                fresh_env()
                pond_deploy()
                settle()
            change(n)
        return prepare

    def steady(n, wait=True):
        # Pond: the last deploy swapped live (the inactive colour holds the
        # release before it), then n files changed.
        def prepare(tool, _rep):
            if tool == "pond":
                run([POND, "swap", "production", "--force", "--project", project], env=env)
                if wait:
                    settle()
            change(n)
        return prepare

    rsync_run = lambda _r: run(rsync)  # noqa: E731
    if args.composer:
        base_name = "rsync -az + composer install"

        def rsync_run(_r):
            run(rsync)
            remote(f"cd {baseline}/rsynccopy && {composer}")
        pond_deploy()
        print("2. one file changed, steady state", file=sys.stderr)
        measure("1 file changed, steady state", pond_deploy, base_name, rsync_run, steady(1))
        print("3. 100 files changed, steady state", file=sys.stderr)
        measure("100 files changed, steady state", pond_deploy, base_name, rsync_run, steady(100))
        report(args, keep, rows, "Composer app whose hook installs vendor/ on the server")
        return
    if args.php:
        print("2. one file changed, right after the first deploy", file=sys.stderr)
        measure("1 file changed, first after create", pond_deploy, "rsync -az", rsync_run, after_first_deploy(1))
        print("3. 100 files changed, right after the first deploy", file=sys.stderr)
        measure("100 files changed, first after create", pond_deploy, "rsync -az", rsync_run, after_first_deploy(100))
        pond_deploy()
    else:
        # A second deploy so the inactive colour has a release to start from.
        pond_deploy()
    print("4. one file changed, steady state", file=sys.stderr)
    measure("1 file changed" + (", steady state" if args.php else ""), pond_deploy, "rsync -az", rsync_run,
            steady(1) if args.php else lambda _t, _r: change(1))
    print("5. 100 files changed, steady state", file=sys.stderr)
    measure("100 files changed" + (", steady state" if args.php else ""), pond_deploy, "rsync -az", rsync_run,
            steady(100) if args.php else lambda _t, _r: change(100))
    if args.php:
        print("6. one file changed, steady state, deployed right after the swap", file=sys.stderr)
        measure("1 file changed, right after a swap (no wait)", pond_deploy, "rsync -az", rsync_run, steady(1, wait=False))
    swaps = []
    for _ in range(args.reps):
        out = run([POND, "swap", "production", "--force", "--project", project], env=env).stderr
        for m in re.finditer(r"swapped \S+ -> \S+ in (\d+) us", out):
            swaps.append(int(m.group(1)))
    report(args, keep, rows, "PHP app with a post-deploy hook" if args.php else "static tree")
    print()
    print(f"Swap, server side (rename of current): min {min(swaps)} us, median {statistics.median(swaps)} us over {len(swaps)} swaps")


def report(args, keep, rows, kind):
    """The table of rows, side by side."""
    print()
    print(f"Deploy benchmark ({kind}: {args.files} files, {args.mb} MB, keep_builds {keep}; {args.reps} repetitions each, alternating; lab droplet over a veth)")
    print()
    print("| case | pond min / median | pond bytes | baseline | baseline min / median | baseline bytes | time ratio | bytes ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for (label, _, pmin, pmed, pbytes, bname, bmin, bmed, bbytes, tr, br) in rows:
        print(f"| {label} | {pmin:.3f} / {pmed:.3f} s | {pbytes:,} | {bname} | {bmin:.3f} / {bmed:.3f} s | {bbytes:,} | {tr:.2f}x | {br:.2f}x |")


def make_project(project, args, rng):
    """The tree to deploy: N text-like files of ~MB in all. With --php, a
    PHP app's layout (public/index.php, app/, vendor/) and a post-deploy
    hook that rewrites bootstrap/cache/config.php in place, as Laravel's
    config:cache does. With --composer, app/ only, and vendor/'s packages
    as zips in artifacts/ for Composer to install on the server. Returns
    the files a change picks from."""
    if getattr(args, "composer", False):
        return make_composer_project(project, args, rng)
    os.makedirs(project)
    words = [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))) for _ in range(2000)]
    size = args.mb * 1024 * 1024 // args.files
    paths = []
    for i in range(args.files):
        if args.php:
            top = "app" if i % 10 == 0 else f"vendor/pkg{i % 40:02d}"
            rel = f"{top}/src/d{i % 300:03d}/F{i:05d}.php"
        else:
            rel = f"src/m{i % 50:02d}/d{i % 400:03d}/f{i:05d}.php"
        full = os.path.join(project, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        text = " ".join(rng.choice(words) for _ in range(size // 6))
        with open(full, "w") as f:
            f.write(("<?php // " if args.php else "") + text[:size])
        paths.append(full)
    if args.php:
        os.makedirs(os.path.join(project, "public"))
        with open(os.path.join(project, "public/index.php"), "w") as f:
            f.write("<?php $c = require __DIR__ . '/../bootstrap/cache/config.php'; echo $c['built'];\n")
        os.makedirs(os.path.join(project, "bootstrap/cache"))
        os.makedirs(os.path.join(project, "deploy"))
        with open(os.path.join(project, "deploy/config-cache.sh"), "w") as f:
            f.write("#!/usr/bin/env bash\nset -euo pipefail\nmkdir -p bootstrap/cache\n"
                    "# Rewrites the cache in place (same file, truncated), as many tools do.\n"
                    "php -r 'echo \"<?php return \", var_export([\"built\" => microtime(true)], true), \";\\n\";' > bootstrap/cache/config.php\n")
    return paths


def make_composer_project(project, args, rng):
    """A Composer app: app/ (a tenth of the files, the ones changes pick
    from), public/index.php using the autoloader, composer.json requiring
    40 packages kept as zips in artifacts/ (packagist turned off), and a
    post-deploy hook running `composer install --no-dev`."""
    import io
    import zipfile
    words = [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))) for _ in range(2000)]
    size = args.mb * 1024 * 1024 // args.files

    def source(i):
        return "<?php // " + " ".join(rng.choice(words) for _ in range(size // 6))[:size]

    paths = []
    for i in range(0, args.files, 10):
        full = os.path.join(project, f"app/src/d{i % 300:03d}/F{i:05d}.php")
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(source(i))
        paths.append(full)
    os.makedirs(os.path.join(project, "artifacts"))
    packages = {}
    for n in range(40):
        name = f"bench/pkg{n:02d}"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("composer.json", json.dumps({"name": name, "version": "1.0.0", "type": "library",
                                                    "autoload": {"psr-4": {f"Bench\\Pkg{n:02d}\\": "src/"}}}))
            for i in range(n, args.files, 40):
                if i % 10 != 0:
                    z.writestr(f"src/d{i % 300:03d}/F{i:05d}.php", source(i))
        with open(os.path.join(project, f"artifacts/pkg{n:02d}-1.0.0.zip"), "wb") as f:
            f.write(buf.getvalue())
        packages[name] = "1.0.0"
    with open(os.path.join(project, "composer.json"), "w") as f:
        json.dump({"name": "bench/app", "type": "project", "require": packages,
                   "repositories": [{"packagist.org": False}, {"type": "artifact", "url": "artifacts/"}],
                   "autoload": {"psr-4": {"App\\": "app/"}}}, f, indent=2)
    os.makedirs(os.path.join(project, "public"))
    with open(os.path.join(project, "public/index.php"), "w") as f:
        f.write("<?php require __DIR__ . '/../vendor/autoload.php'; echo 'ok';\n")
    os.makedirs(os.path.join(project, "deploy"))
    with open(os.path.join(project, "deploy/composer.sh"), "w") as f:
        f.write("#!/usr/bin/env bash\nset -euo pipefail\ncomposer install --no-dev --no-interaction --no-progress\n")
    return paths


if __name__ == "__main__":
    main()
