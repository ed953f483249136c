#!/usr/bin/env python3
"""Certificate renewal under load: wrk hammers an environment's domain over
HTTPS on a lab droplet (nginx + PHP-FPM, certificate from the lab's ACME
CA) for a bounded time while `pond tls --renew` gets a new certificate and
nginx reloads, several times; side by side with the same wrk run and no
renewal. Reports requests, failed answers (non-2xx/3xx), socket errors and
the throughput ratio. Goal: zero failed requests. Needs root (the lab) and
wrk. Usage: benches/tls_renew_under_load.py [--seconds 10] [--renewals 3]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from lablib import lab_up, wrk_https

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POND = os.environ.get("POND", os.path.join(ROOT, "target/release/pond"))
DOMAIN = "renew.example.com"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--renewals", type=int, default=3)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    work = tempfile.mkdtemp(prefix="pond-tlsbench-", dir="/var/tmp")
    lab = os.path.join(work, "lab")
    env = dict(os.environ, POND_CONFIG_DIR=os.path.join(work, "config"))
    try:
        env.update(lab_up(POND, lab, env))
        project = os.path.join(work, "app")
        os.makedirs(os.path.join(project, "public"))
        run([POND, "init", "--dir", project, "--name", "tlsbench", "--stack", "php"], env=env)
        with open(os.path.join(project, "public", "index.php"), "w") as f:
            f.write("<?php echo 'served';")
        run([POND, "create", "production", "--account", "lab", "--domain", DOMAIN, "--image", "debian-13-x64",
             "--db", "none", "--project", project], env=env)
        with open(os.path.join(project, "pond.json")) as f:
            addr = json.load(f)["environments"][0]["droplets"][0]["address"]

        baseline = wrk_https(DOMAIN, addr, args.seconds)
        key = os.path.join(work, "config", "id_ed25519")

        # The same load while nginx only reloads (what every renewal ends
        # with), to tell nginx's reload from the rest of a renewal.
        def reloader():
            time.sleep(1)
            for _ in range(args.renewals):
                run(["ssh", "-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                     "-o", "LogLevel=ERROR", f"root@{addr}", "systemctl reload nginx"])
                time.sleep((args.seconds - 2) / args.renewals)

        t = threading.Thread(target=reloader)
        t.start()
        reloads = wrk_https(DOMAIN, addr, args.seconds)
        t.join()
        renewed = []

        def renewer():
            time.sleep(1)
            for _ in range(args.renewals):
                started = time.monotonic()
                out = run([POND, "tls", "production", "--renew", "--project", project], env=env)
                if "certificate renewed for" in out.stderr + out.stdout:
                    renewed.append(time.monotonic() - started)
                time.sleep(0.2)

        t = threading.Thread(target=renewer)
        t.start()
        during = wrk_https(DOMAIN, addr, args.seconds)
        t.join()
        print(f"Certificate renewal under load ({args.seconds} s of wrk -t2 -c32 against https://{DOMAIN}/ each, "
              f"PHP-FPM page; {len(renewed)} renewals by `pond tls --renew`, each a new certificate and a graceful nginx reload):")
        print()
        print("| run | requests | failed (non-2xx/3xx) | socket errors | renewals | renewal wall time (median) |")
        print("|---|---|---|---|---|---|")
        print(f"| no renewal (baseline) | {baseline[0]:,} | {baseline[1]} | {baseline[2]} | 0 | - |")
        print(f"| `systemctl reload nginx` only, {args.renewals} times | {reloads[0]:,} | {reloads[1]} | {reloads[2]} | 0 | - |")
        med = sorted(renewed)[len(renewed) // 2] if renewed else 0
        print(f"| renewing | {during[0]:,} | {during[1]} | {during[2]} | {len(renewed)} | {med:.1f} s |")
        print()
        print(f"Throughput while renewing: {during[0] / max(baseline[0], 1):.2f}x the baseline.")
        for name, r in (("reloads", reloads), ("renewals", during)):
            line = next((l.strip() for l in r[3].splitlines() if "Socket errors" in l), "Socket errors: none")
            print(f"wrk during {name}: {line}")
    finally:
        subprocess.run([POND, "lab", "destroy", "--dir", lab], capture_output=True, env=env)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
