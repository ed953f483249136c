"""What every benchmark does with the lab: start it (`pond lab up`, whose
stdout is `export NAME=VALUE` lines) and call its DigitalOcean-shaped API."""

import json
import os
import re
import shlex
import subprocess
import tempfile
import urllib.request


def lab_up(pond, lab, env):
    """Starts (or reuses) the lab in `lab`; returns its exports as a dict
    (POND_LAB_API_URL, POND_LAB_TOKEN, POND_DNS_RESOLVER, POND_ACME_DIRECTORY,
    POND_ACME_CA)."""
    out = subprocess.run([pond, "lab", "up", "--dir", lab], check=True, capture_output=True,
                         text=True, env=env).stdout
    pairs = (line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    return {name: shlex.split(value)[0] for name, value in pairs}


def wrk_https(host, address, seconds, path="/"):
    """`wrk -t2 -c32` against https://host/path for `seconds`, with `host`
    resolving to `address` for wrk alone (a private mount namespace whose
    /etc/hosts names it), so TLS gets the right SNI. Returns (requests,
    non-2xx-or-3xx, socket errors, wrk's output); wrk's own line of socket
    errors (connect, read, write, timeout) is in the output."""
    with tempfile.NamedTemporaryFile("w", suffix=".hosts", delete=False) as hosts:
        hosts.write(f"127.0.0.1 localhost\n{address} {host}\n")
    try:
        script = 'mount --bind "$1" /etc/hosts && shift && exec wrk "$@"'
        text = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", hosts.name,
             "-t2", "-c32", f"-d{seconds}s", f"https://{host}{path}"],
            check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(hosts.name)
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    bad = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)) else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = sum(int(x) for x in sock.groups()) if sock else 0
    return requests, bad, errors, text


def api_call(api, method, path, body=None):
    """One request to the lab's API (`path` under /v2); the JSON reply or None."""
    req = urllib.request.Request(api["POND_LAB_API_URL"] + path, method=method,
                                 data=json.dumps(body).encode() if body else None)
    req.add_header("Authorization", "Bearer " + api["POND_LAB_TOKEN"])
    with urllib.request.urlopen(req) as r:
        text = r.read().decode()
        return json.loads(text) if text else None
