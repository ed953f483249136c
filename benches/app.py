#!/usr/bin/env python3
"""Desktop app benchmark: Pond's release app against a hello-world Tauri 2
app built the same way (benches/hello-tauri, the framework's floor), side by
side in one run under the same X display.

For each repetition, alternating the two apps:
  - cold start to window: spawn → a window with the app's title is mapped;
  - cold start to first paint: spawn → the window shows more than a handful
    of colours (the page has drawn; polled by screenshot every ~30 ms);
  - idle memory: 8 s after first paint, PSS (and RSS) summed over the app
    and its WebKit processes (its descendants), from /proc/*/smaps_rollup.
Pond is measured on its environment status panel: the bench starts a lab,
creates a static-site environment with `pond create`, and opens the app on
that project (`pond-app DIR`). Also prints both release binary sizes.

Needs root (the lab), $DISPLAY (e.g. Xvfb), x11-utils and imagemagick, and
both release builds:
  cargo build --release -p pond-app --features custom-protocol
  (cd benches/hello-tauri && CARGO_TARGET_DIR=../../target cargo build --release)
Usage: benches/app.py [--reps 5]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from lablib import lab_up

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POND = os.path.join(ROOT, "target/release/pond")
APP = os.path.join(ROOT, "target/release/pond-app")
HELLO = os.path.join(ROOT, "target/release/hello-tauri")


def window_id(title):
    out = subprocess.run(["xwininfo", "-name", title, "-int"], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if "Window id:" in line:
            return line.split()[3]
    return None


def colours(wid):
    out = subprocess.run(["import", "-window", wid, "-format", "%k", "info:"], capture_output=True, text=True)
    try:
        return int(out.stdout.strip() or 0)
    except ValueError:
        return 0


def descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def memory(pid):
    pss = rss = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
        except OSError:
            pass
    return pss / 1024, rss / 1024


def measure(cmd, title, env):
    start = time.monotonic()
    log = open(os.path.join(tempfile.gettempdir(), f"pond-app-bench-{title}.log"), "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    try:
        wid = None
        while wid is None:
            if time.monotonic() - start > 60:
                raise RuntimeError(f"{title}: no window after 60 s")
            wid = window_id(title)
            if wid is None:
                time.sleep(0.01)
        window = time.monotonic() - start
        while colours(wid) <= 8:
            if time.monotonic() - start > 60:
                raise RuntimeError(f"{title}: nothing painted after 60 s")
        paint = time.monotonic() - start
        time.sleep(8)
        pss, rss = memory(proc.pid)
        return window, paint, pss, rss
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def lab_project(tmp):
    """A lab with one static-site environment; returns (project dir, env, lab dir)."""
    lab = os.path.join(tmp, "lab")
    env = dict(os.environ, **lab_up(POND, lab, dict(os.environ)))
    env["POND_CONFIG_DIR"] = os.path.join(tmp, "config")
    project = os.path.join(tmp, "site")
    os.makedirs(project)
    subprocess.run([POND, "init", "--name", "bench-site", "--stack", "static", "--dir", project], check=True, env=env, capture_output=True)
    with open(os.path.join(project, "index.html"), "w") as f:
        f.write("bench")
    subprocess.run(
        [POND, "create", "production", "--account", "lab", "--domain", "bench.example.com", "--image", "debian-13-x64", "--project", project],
        check=True, env=env, capture_output=True,
    )
    return project, env, lab


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    for path in (POND, APP, HELLO):
        if not os.path.exists(path):
            sys.exit(f"missing {path}: build it first (see this script's docstring)")
    if not os.environ.get("DISPLAY"):
        sys.exit("DISPLAY is not set (start Xvfb first)")
    with tempfile.TemporaryDirectory(prefix="pond-app-bench-", dir="/var/tmp") as tmp:
        project, env, lab = lab_project(tmp)
        try:
            # Pond turns WebKit's accelerated compositing off (src-tauri's
            # main); the floor is measured both as built and with that same
            # setting, so the comparison hides nothing.
            same = dict(env, WEBKIT_DISABLE_COMPOSITING_MODE="1")
            results = {"pond": [], "hello": [], "hello_same": []}
            # One unmeasured launch of each first (page cache, font cache).
            for cmd, title in (([HELLO], "Hello"), ([APP, project], "Pond")):
                try:
                    measure(cmd, title, env)
                except RuntimeError as e:
                    print(f"warm-up: {e}", file=sys.stderr)
            for _ in range(args.reps):
                results["hello"].append(measure([HELLO], "Hello", env))
                results["hello_same"].append(measure([HELLO], "Hello", same))
                results["pond"].append(measure([APP, project], "Pond", env))
        finally:
            subprocess.run([POND, "lab", "destroy", "--dir", lab], capture_output=True)

    def row(name, i, unit, fmt):
        cells = []
        medians = {}
        for key in ("pond", "hello", "hello_same"):
            v = [r[i] for r in results[key]]
            medians[key] = statistics.median(v)
            cells.append(f"{fmt.format(min(v))} / {fmt.format(medians[key])}{unit}")
        ratios = "  ".join(f"{medians['pond'] / medians[k]:5.2f}×" for k in ("hello", "hello_same"))
        print(f"{name:<26} {cells[0]:<20} {cells[1]:<20} {cells[2]:<20} {ratios}")

    print(f"Pond app (status panel, 1 env) vs hello-world Tauri 2, {args.reps} runs each, min / median")
    print(f"{'':<26} {'Pond':<20} {'hello (as built)':<20} {'hello (same WebKit)':<20} Pond ÷ each")
    row("cold start → window", 0, " s", "{:.2f}")
    row("cold start → first paint", 1, " s", "{:.2f}")
    row("idle PSS (app + WebKit)", 2, " MB", "{:.0f}")
    row("idle RSS (app + WebKit)", 3, " MB", "{:.0f}")
    ps, hs = os.path.getsize(APP) / 2**20, os.path.getsize(HELLO) / 2**20
    print(f"{'release binary':<26} {ps:.1f} MB {'':<11} {hs:.1f} MB {'':<11} {'':<20} {ps / hs:5.2f}×")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
