#!/usr/bin/env python3
"""Swap under load: wrk hammers an environment's domain on a lab droplet
(nginx + PHP-FPM) for a bounded time while Pond swaps colours back and
forth; reports requests, non-2xx answers, socket errors, and the swap
script's own timing. Goal: zero failed requests. Needs root (the lab) and
wrk (Debian package). Usage: benches/swap_under_load.py [--seconds 10] [--swaps 20]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from lablib import lab_up, wrk_https

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POND = os.environ.get("POND", os.path.join(ROOT, "target/release/pond"))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--swaps", type=int, default=20)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    work = tempfile.mkdtemp(prefix="pond-swapbench-", dir="/var/tmp")
    lab = os.path.join(work, "lab")
    env = dict(os.environ, POND_CONFIG_DIR=os.path.join(work, "config"))
    try:
        env.update(lab_up(POND, lab, env))
        project = os.path.join(work, "app")
        os.makedirs(os.path.join(project, "public"))
        run([POND, "init", "--dir", project, "--name", "swapbench", "--stack", "php"], env=env)
        index = os.path.join(project, "public", "index.php")
        with open(index, "w") as f:
            f.write("<?php echo 'build one';")
        run([POND, "create", "production", "--account", "lab", "--domain", "swap.example.com", "--image", "debian-13-x64",
             "--db", "none", "--project", project], env=env)
        with open(index, "w") as f:
            f.write("<?php echo 'build two';")
        run([POND, "deploy", "production", "--tag", "two", "--project", project], env=env)
        import json
        with open(os.path.join(project, "pond.json")) as f:
            addr = json.load(f)["environments"][0]["droplets"][0]["address"]

        swap_times = []

        def swapper():
            time.sleep(1)
            for _ in range(args.swaps):
                out = run([POND, "swap", "production", "--force", "--project", project], env=env).stderr
                m = re.search(r"swapped \S+ -> \S+ in (\d+) us", out)
                if m:
                    swap_times.append(int(m.group(1)))
                time.sleep(max(0.0, (args.seconds - 2) / args.swaps - 0.3))

        t = threading.Thread(target=swapper)
        t.start()
        # Over HTTPS, as users reach the domain (pond create got it a certificate).
        requests, non2xx, socket_errors, _ = wrk_https("swap.example.com", addr, args.seconds)
        t.join()
        print(f"Swap under load ({args.seconds} s of wrk -t2 -c32 against https://swap.example.com/, {len(swap_times)} swaps by `pond swap`):")
        print()
        print("| requests | non-2xx | socket errors | swaps | server-side swap min / median |")
        print("|---|---|---|---|---|")
        med = sorted(swap_times)[len(swap_times) // 2] if swap_times else 0
        print(f"| {requests:,} | {non2xx} | {socket_errors} | {len(swap_times)} | {min(swap_times or [0])} / {med} us |")
    finally:
        subprocess.run([POND, "lab", "destroy", "--dir", lab], capture_output=True, env=env)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
