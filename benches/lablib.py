"""What every benchmark does with the lab: start it (`pond lab up`, whose
stdout is `export NAME=VALUE` lines) and call its DigitalOcean-shaped API."""

import json
import subprocess
import urllib.request


def lab_up(pond, lab, env):
    """Starts (or reuses) the lab in `lab`; returns its exports as a dict
    (POND_LAB_API_URL, POND_LAB_TOKEN, POND_DNS_RESOLVER)."""
    out = subprocess.run([pond, "lab", "up", "--dir", lab], check=True, capture_output=True,
                         text=True, env=env).stdout
    return dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())


def api_call(api, method, path, body=None):
    """One request to the lab's API (`path` under /v2); the JSON reply or None."""
    req = urllib.request.Request(api["POND_LAB_API_URL"] + path, method=method,
                                 data=json.dumps(body).encode() if body else None)
    req.add_header("Authorization", "Bearer " + api["POND_LAB_TOKEN"])
    with urllib.request.urlopen(req) as r:
        text = r.read().decode()
        return json.loads(text) if text else None
