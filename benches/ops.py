#!/usr/bin/env python3
"""Operations benchmark on the lab (issue 8, items 4 and 5):

  - rollback, end to end (`pond rollback`: process start, SSH connect with a
    pinned key, the swap script) — goal < 1 s;
  - status of 5 environments × 4 droplets (`pond status`, 20 servers) —
    goal < 1 s warm, < 3 s cold (cold = the first run after the lab's
    droplets were provisioned; warm = repeated runs);
  - fan-out: deploying one changed file to 8 droplets vs to 1 droplet, side
    by side in the same run — goal ≤ 1.3×. On this machine the 8 droplets
    share the client's 2 cores, so the bench also reads each deploy's -v log
    (every server's time in every remote step) and prints an estimate for
    droplets with their own CPUs: the 8-droplet run's own time (client and
    round trips: wall time minus, per step, the slowest server's time)
    plus the 1-droplet run's server time.

20 lab droplets are created through the lab API with the user's key and
provisioned as a static site; the "wide" environment reuses 8 of them and
"narrow" one of them (environments live in separate directories, so they
do not interfere). Needs root. Usage: benches/ops.py [--reps 5]
"""

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time

from lablib import api_call, lab_up

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POND = os.environ.get("POND", os.path.join(ROOT, "target/release/pond"))


def run(cmd, env, cwd=None):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=cwd)


CPU = []  # client CPU seconds (user + sys) of each timed command


def timed(cmd, env):
    return timed_log(cmd, env)[0]


def timed_log(cmd, env):
    """Runs `cmd`; its wall time and stderr (its -v log). Its CPU time goes
    to CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    out = run(cmd, env)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, out.stderr


# Remote steps grouped as the deploy runs them (src/tasks/deploy): from
# the connection, the lock, the prepare step (which waits on the server
# for the lock) and the served-URL check at the same time; then each
# server's apply with the next deploy's copy started alongside it; the
# team's keys alongside all of that. Within a group the longest counts;
# other steps (a first deploy's processes) are phases of their own, after.
AT_ONCE = {"common/lock": "start", "common/deploy-prepare": "start", "common/serving": "start",
           "common/deploy-apply": "apply", "common/spare": "apply"}
ALONGSIDE = {"common/access": "keys"}


def server_bound(log):
    """Seconds the client waited on servers: per phase (see AT_ONCE), the
    slowest server's time in it; the connection, then the start and apply
    phases or the team's keys alongside them, whichever is longer, then
    any other step."""
    phases = {}
    for line in log.splitlines():
        ms = re.search(r"\bms=(\d+)", line)
        server = re.search(r"server=([\w.-]+)", line)
        if not ms or not server:
            continue
        if " connected " in line:
            phase = "connect"
        else:
            template = re.search(r'template="?([\w/-]+)', line)
            if not template or ("step ran" not in line and "held=" not in line):
                continue
            name = template.group(1)
            phase = AT_ONCE.get(name) or ALONGSIDE.get(name, name)
        key = (phase, server.group(1))
        phases[key] = max(phases.get(key, 0), int(ms.group(1)))
    slowest = {}
    for (phase, _), ms in phases.items():
        slowest[phase] = max(slowest.get(phase, 0), ms)
    main_path = slowest.pop("start", 0) + slowest.pop("apply", 0)
    total = slowest.pop("connect", 0) + max(main_path, slowest.pop("keys", 0)) + sum(slowest.values())
    return total / 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pond-ops-bench-", dir="/var/tmp")
    lab = os.path.join(work, "lab")
    env = dict(os.environ, POND_CONFIG_DIR=os.path.join(work, "config"))
    try:
        bench(args, work, lab, env)
    finally:
        subprocess.run([POND, "lab", "destroy", "--dir", lab], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def bench(args, work, lab, env):
    api = lab_up(POND, lab, env)

    def call(method, path, body=None):
        return api_call(api, method, path, body)

    public = run([POND, "key", "--public"], env).stdout.strip()
    kid = call("POST", "/account/keys", {"name": "bench", "public_key": public})["ssh_key"]["id"]
    for i in range(20):
        call("POST", "/droplets", {"name": f"ops-{i}", "size": "s-1vcpu-1gb", "image": "debian-13-x64",
                                   "ssh_keys": [kid], "tags": ["ops"]})
    while True:
        ds = call("GET", "/droplets?tag_name=ops&per_page=50")["droplets"]
        if len(ds) == 20 and all(d["status"] == "active" for d in ds):
            break
        time.sleep(0.2)
    addrs = sorted((d["name"], d["networks"]["v4"][0]["ip_address"]) for d in ds)
    addrs.sort(key=lambda a: int(a[0].split("-")[1]))

    project = os.path.join(work, "site")
    os.makedirs(project)
    run([POND, "init", "--name", "ops", "--stack", "static", "--dir", project], env)
    with open(os.path.join(project, "index.html"), "w") as f:
        f.write("one")
    path = os.path.join(project, "pond.json")
    with open(path) as f:
        pj = json.load(f)

    def environment(name, members):
        return {"name": name, "type": "load_balanced" if len(members) > 1 else "single",
                "domain": f"{name}.ops.example.com", "secret_prefix": f"p{name}q8w7e6r5t4",
                "database": {"placement": "none"},
                "droplets": [{"name": f"{name}-{n}", "address": a} for n, a in members]}

    envs = [environment(f"e{k}", addrs[4 * k:4 * k + 4]) for k in range(5)]
    envs.append(environment("wide", addrs[0:8]))
    envs.append(environment("narrow", addrs[8:9]))
    pj["environments"] = envs
    with open(path, "w") as f:
        json.dump(pj, f, indent=2)
    p = ["--project", project]
    for e in envs:
        run([POND, "provision", e["name"], *p], env)
        run([POND, "deploy", e["name"], "--tag", "one", *p], env)

    # The servers' background work after the deploys (each prepares the
    # next deploy's copy) is done before anything is timed.
    time.sleep(15)
    cold = timed([POND, "status", *p, "--json"], env)
    # Only the five 4-droplet environments count for status: drop the others.
    status_project = os.path.join(work, "status-only")
    shutil.copytree(project, status_project)
    with open(os.path.join(status_project, "pond.json")) as f:
        sj = json.load(f)
    sj["environments"] = [e for e in sj["environments"] if e["name"].startswith("e")]
    with open(os.path.join(status_project, "pond.json"), "w") as f:
        json.dump(sj, f, indent=2)
    sp = ["--project", status_project]
    status_cold = timed([POND, "status", *sp, "--json"], env)
    status_warm = [timed([POND, "status", *sp, "--json"], env) for _ in range(args.reps)]

    # Rollback (and the swap that gives it something to roll back to).
    with open(os.path.join(project, "index.html"), "w") as f:
        f.write("two")
    run([POND, "deploy", "e0", "--tag", "two", *p], env)
    rollbacks = []
    for _ in range(args.reps):
        run([POND, "swap", "e0", *p], env)
        rollbacks.append(timed([POND, "rollback", "e0", *p], env))

    # Fan-out: one changed file, 8 droplets vs 1, alternating. Each deploy
    # runs with -v, whose lines give every server's time in each remote
    # step: on this machine the 8 droplets' steps share 2 cores and take
    # longer than one droplet's, which they would not on DigitalOcean.
    wide, narrow, wide_cpu, narrow_cpu = [], [], [], []
    wide_server, narrow_server, wide_client = [], [], []
    for r in range(args.reps):
        with open(os.path.join(project, "index.html"), "w") as f:
            f.write(f"fan {r}")
        pairs = (("narrow", narrow, narrow_cpu, narrow_server), ("wide", wide, wide_cpu, wide_server))
        for name, sink, cpu, server in pairs if r % 2 else pairs[::-1]:
            wall, log = timed_log([POND, "deploy", name, "--tag", f"fan{r}", "-v", *p], env)
            sink.append(wall)
            cpu.append(CPU[-1])
            server.append(server_bound(log))
            if name == "wide":
                wide_client.append(wall - server[-1])
    # What 8 droplets with their own CPUs would take: the 8-droplet run's
    # own (client and round-trip) time as measured, plus the server steps
    # at what they cost one droplet alone.
    estimate = statistics.median(wide_client) + statistics.median(narrow_server)

    def show(label, values, goal):
        print(f"{label:<44} min {min(values):6.3f} s   median {statistics.median(values):6.3f} s   goal {goal}")

    print(f"Operations on the lab ({args.reps} repetitions; 20 droplets; release pond)")
    show("rollback end to end (pond rollback)", rollbacks, "< 1 s")
    show("status, 5 envs x 4 droplets, cold (1st run)", [status_cold], "< 3 s")
    show("status, 5 envs x 4 droplets, warm", status_warm, "< 1 s")
    show("deploy 1 changed file to 1 droplet", narrow, "")
    show("deploy 1 changed file to 8 droplets", wide, "")
    print(f"{'fan-out ratio (8 / 1, medians)':<44} {statistics.median(wide) / statistics.median(narrow):.2f}x         goal <= 1.3x")
    print(f"{'client CPU of the deploy (pond process), 1 / 8':<44} {statistics.median(narrow_cpu):.3f} s / {statistics.median(wide_cpu):.3f} s")
    print(f"{'server-bound time (slowest server per step), 1 / 8':<44} {statistics.median(narrow_server):.3f} s / {statistics.median(wide_server):.3f} s")
    print(f"{'8 droplets, the rest (client, round trips)':<44} {statistics.median(wide_client):.3f} s")
    print(f"{'estimate for 8 droplets with their own CPUs':<44} {estimate:.3f} s   ratio to 1 droplet {estimate / statistics.median(narrow):.2f}x   goal <= 1.3x")
    print(f"(status of all 7 environments right after provisioning: {cold:.3f} s)")
    print(f"(the lab's 8 droplets share this machine's {os.cpu_count()} cores with the client: their server-side work is not parallel here as it is on DigitalOcean)")


if __name__ == "__main__":
    main()
