#!/usr/bin/env python3
"""The new-server run on the lab (issue 6): wall time of `pond create` of a
PHP environment with MariaDB on the droplet (warm apt cache), split by
Pond's own progress lines into: waiting for the droplet (DigitalOcean's
side; the lab boots a container), the provisioning scripts (apt and daemon
work on the server), and everything else — Pond itself (API calls, SSH
connects, pinning, DNS, the first deploy, the health check).

Baseline, side by side: the same provisioning scripts (`pond provision
--dry-run` prints them) piped with OpenSSH into `bash -s` on a second
fresh droplet, one after another — what a hand-written script would cost
for the same server work. Needs root. Usage: benches/create.py [--reps 3]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time

from lablib import api_call, lab_up

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POND = os.environ.get("POND", os.path.join(ROOT, "target/release/pond"))


def run(cmd, env, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, **kw)


def timed_create(cmd, env):
    """Runs `pond create`; returns (wall, buckets) from its step lines."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    marks = []  # (time, host, step)
    for line in proc.stderr:
        m = re.match(r"\[([^\]]+)\] == (.*)", line.rstrip("\n"))
        if m:
            marks.append((time.monotonic() - start, m.group(1), m.group(2)))
    proc.wait()
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"pond create failed:\n{proc.stdout.read()}")
    # Template output lines that start with "== " look like steps too, so
    # phases are cut at Pond's own markers: waiting ends at the first line
    # from the droplet; provisioning runs from "Base setup" to "provisioned".
    def first(pred, after=0.0):
        return next(t for t, host, step in marks if t >= after and pred(host, step))
    waiting = first(lambda h, s: s.startswith("waiting for droplet"))
    reached = first(lambda h, s: h != "digitalocean", waiting)
    base = first(lambda h, s: s == "Base setup")
    provisioned = first(lambda h, s: s == "provisioned", base)
    buckets = {"waiting for the droplet": reached - waiting, "provisioning scripts": provisioned - base}
    buckets["Pond itself"] = wall - sum(buckets.values())
    if os.environ.get("POND_BENCH_TIMELINE"):
        for t, host, step in marks:
            print(f"{t:8.2f}  [{host}] {step}")
    return wall, buckets


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pond-create-bench-", dir="/var/tmp")
    lab = os.path.join(work, "lab")
    env = dict(os.environ, POND_CONFIG_DIR=os.path.join(work, "config"))
    try:
        bench(args, work, lab, env)
    finally:
        subprocess.run([POND, "lab", "destroy", "--dir", lab], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def bench(args, work, lab, env):
    api = lab_up(POND, lab, env)
    env.update(POND_LAB_API_URL=api["POND_LAB_API_URL"], POND_LAB_TOKEN=api["POND_LAB_TOKEN"])

    def call(method, path, body=None):
        return api_call(api, method, path, body)

    project = os.path.join(work, "shop")
    os.makedirs(os.path.join(project, "public"))
    run([POND, "init", "--name", "shop", "--stack", "php", "--dir", project], env)
    with open(os.path.join(project, "public", "index.php"), "w") as f:
        f.write("<?php echo 'ok';")
    p = ["--project", project]
    # One unmeasured run warms the lab's apt cache and base image.
    run([POND, "create", "warm", "--account", "lab", "--domain", "warm.shop.example.com",
         "--image", "debian-13-x64", *p], env)
    key = os.path.join(env["POND_CONFIG_DIR"], "id_ed25519")
    # pond create registered the key with the account already.
    kid = call("GET", "/account/keys")["ssh_keys"][0]["id"]

    pond_runs, ssh_runs = [], []
    for r in range(args.reps):
        name = f"e{r}"
        wall, buckets = timed_create(
            [POND, "create", name, "--account", "lab", "--domain", f"{name}.shop.example.com",
             "--image", "debian-13-x64", *p], env)
        pond_runs.append((wall, buckets))
        scripts = run([POND, "provision", name, "--dry-run", "--scripts", *p], env).stdout
        # Each server's plan, one script per operation (`# [N] what — on droplet …`).
        parts = [s for s in re.split(r"^# (?:Plan: .*|\[\d+\] .* — on droplet .*)$", scripts, flags=re.M)
                 if s.strip()]
        # The baseline: a fresh droplet, the same scripts through OpenSSH.
        start = time.monotonic()
        did = call("POST", "/droplets", {"name": f"base-{r}", "size": "s-1vcpu-1gb",
                                          "image": "debian-13-x64", "ssh_keys": [kid]})["droplet"]["id"]
        while True:
            d = call("GET", f"/droplets/{did}")["droplet"]
            if d["status"] == "active":
                break
            time.sleep(0.2)
        booted = time.monotonic() - start
        addr = d["networks"]["v4"][0]["ip_address"]
        ssh = ["ssh", "-i", key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"root@{addr}", "bash", "-s"]
        for _ in range(50):
            if subprocess.run([*ssh[:-2], "true"], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        for script in parts:
            subprocess.run(ssh, input=script, check=True, capture_output=True, text=True)
        ssh_runs.append((time.monotonic() - start, booted))

    walls = [w for w, _ in pond_runs]
    print(f"New server on the lab: pond create of a PHP + MariaDB droplet, warm apt cache ({args.reps} runs; release pond)")
    print(f"{'pond create, wall':<46} min {min(walls):6.2f} s   median {statistics.median(walls):6.2f} s")
    for bucket in ("waiting for the droplet", "provisioning scripts", "Pond itself"):
        values = [b[bucket] for _, b in pond_runs]
        share = statistics.median([b[bucket] / w for w, b in pond_runs])
        print(f"  {bucket:<44} median {statistics.median(values):6.2f} s   {share:6.1%} of the run")
    base = [t for t, _ in ssh_runs]
    print(f"{'baseline: boot + same scripts via OpenSSH':<46} min {min(base):6.2f} s   median {statistics.median(base):6.2f} s")
    print(f"{'ratio pond create / baseline (medians)':<46} {statistics.median(walls) / statistics.median(base):.2f}x "
          "(pond also pins keys, points DNS, deploys, health-checks)")


if __name__ == "__main__":
    main()
