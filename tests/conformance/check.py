#!/usr/bin/env python3
"""Conformance of the lab's fake DigitalOcean API with DO's official spec.

1. Drives every endpoint the lab implements through Prism, DO's spec as a
   validating proxy (`prism proxy --errors`): a request or response that
   breaks the spec comes back as a 500 problem document, which fails here.
   Prism does not catch everything, so each response is also checked for:
   a status code the spec documents for that operation, the rate-limit
   headers, and properties the spec does not define.
2. Drives the lab directly with pydo, DO's official Python client.
3. Drives it with python-digitalocean, a widely used third-party client,
   unchanged and pointed at the lab by its own DIGITALOCEAN_END_POINT. It
   calls paths with a trailing slash (`account/`, `droplets/?tag_name=`) and
   a droplet's actions by `/v2/droplets/{id}/actions/{action_id}`.

Usage: check.py API_URL TOKEN SPEC PRISM_BIN
(API_URL ends in /v2, as `pond lab up` prints it.)
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

API, TOKEN, SPEC_PATH, PRISM = sys.argv[1:5]
UPSTREAM = API.removesuffix("/v2")
SPEC = yaml.safe_load(open(SPEC_PATH))
failures = []


def new_public_key(name):
    """A fresh ed25519 public key line (the private half is thrown away)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path], check=True)
        return open(path + ".pub").read().strip()


def deref(node):
    while isinstance(node, dict) and "$ref" in node:
        target = SPEC
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def properties_of(schema):
    """All properties a schema allows (merging allOf), or None if open."""
    schema = deref(schema)
    if not isinstance(schema, dict):
        return None
    props = dict(schema.get("properties", {}))
    open_ended = schema.get("additionalProperties") not in (None, False)
    for part in schema.get("allOf", []):
        more = properties_of(part)
        if more is None:
            open_ended = True
        else:
            props.update(more)
    if open_ended or (not props and "allOf" not in schema and schema.get("type") != "object"):
        return None
    return props


def extras(value, schema, where):
    """Paths of properties in `value` that `schema` does not define."""
    schema = deref(schema)
    if not isinstance(schema, dict):
        return []
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [extras(value, option, where) for option in schema[key]]
            return min(options, key=len) if options else []
    if isinstance(value, list):
        items = schema.get("items")
        if items is None:
            for part in schema.get("allOf", []):
                items = deref(part).get("items") or items
        return [e for i, v in enumerate(value) for e in extras(v, items or {}, f"{where}[{i}]")]
    if not isinstance(value, dict):
        return []
    props = properties_of(schema)
    if props is None:
        return []
    found = []
    for key, v in value.items():
        if key not in props:
            found.append(f"{where}.{key}")
        else:
            found.extend(extras(v, props[key], f"{where}.{key}"))
    return found


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, headers, text = r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        status, headers, text = e.code, e.headers, e.read().decode()
    return status, headers, (json.loads(text) if text.strip() else None)


def check(base, template, method, path, expect, body=None):
    status, headers, reply = call(base, method, path, body)
    label = f"{method} {path}"
    if isinstance(reply, dict) and reply.get("validation"):
        failures.append(f"{label}: Prism found spec violations: {json.dumps(reply['validation'])[:600]}")
        return reply
    if status != expect:
        failures.append(f"{label}: status {status}, expected {expect}: {json.dumps(reply)[:300]}")
    operation = SPEC["paths"][template][method.lower()]
    documented = operation["responses"]
    if str(status) not in documented:
        failures.append(f"{label}: status {status} is not documented for this operation")
    for h in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"):
        if headers.get(h) is None:
            failures.append(f"{label}: missing header {h}")
    response = deref(documented.get(str(status), {}))
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is not None and reply is not None:
        for extra in extras(reply, schema, "$"):
            failures.append(f"{label}: property {extra} is not in DO's spec")
    print(f"  {status} {label}")
    return reply


def wait_active(base, droplet_id):
    deadline = time.time() + 60
    while time.time() < deadline:
        _, _, r = call(base, "GET", f"/v2/droplets/{droplet_id}")
        if r["droplet"]["status"] == "active":
            return
        time.sleep(0.2)
    failures.append(f"droplet {droplet_id} not active within 60 s")


def wait_certificate(base, cert_id):
    deadline = time.time() + 60
    while time.time() < deadline:
        _, _, r = call(base, "GET", f"/v2/certificates/{cert_id}")
        if r["certificate"]["state"] != "pending":
            if r["certificate"]["state"] != "verified":
                failures.append(f"certificate {cert_id}: {r['certificate']['state']}")
            return
        time.sleep(0.2)
    failures.append(f"certificate {cert_id} not verified within 60 s")


def wait_action(base, action_id):
    deadline = time.time() + 60
    while time.time() < deadline:
        _, _, r = call(base, "GET", f"/v2/actions/{action_id}")
        if r["action"]["status"] != "in-progress":
            return
        time.sleep(0.2)


def through_prism():
    port = free_port()
    prism = subprocess.Popen(
        [PRISM, "proxy", "-h", "127.0.0.1", "-p", str(port), "--errors", SPEC_PATH, UPSTREAM],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        for line in prism.stdout:
            if "Prism is listening" in line:
                break
            if time.time() > deadline:
                raise SystemExit("Prism did not start within 60 s")
        base = f"http://127.0.0.1:{port}"
        print(f"Prism (pid {prism.pid}) validating {UPSTREAM} against {SPEC_PATH}")
        c = lambda *a, **k: check(base, *a, **k)
        c("/v2/account", "GET", "/v2/account", 200)
        key = c("/v2/account/keys", "POST", "/v2/account/keys", 201, {"name": "conformance", "public_key": new_public_key("conformance")})
        kid, fp = key["ssh_key"]["id"], key["ssh_key"]["fingerprint"]
        c("/v2/account/keys", "GET", "/v2/account/keys?per_page=1", 200)
        c("/v2/account/keys/{ssh_key_identifier}", "GET", f"/v2/account/keys/{kid}", 200)
        c("/v2/account/keys/{ssh_key_identifier}", "GET", f"/v2/account/keys/{fp}", 200)
        c("/v2/account/keys/{ssh_key_identifier}", "PUT", f"/v2/account/keys/{kid}", 200, {"name": "renamed"})
        c("/v2/regions", "GET", "/v2/regions", 200)
        c("/v2/sizes", "GET", "/v2/sizes?per_page=2&page=2", 200)
        c("/v2/images", "GET", "/v2/images", 200)
        c("/v2/images/{image_id}", "GET", "/v2/images/150000001", 200)
        one = c("/v2/droplets", "POST", "/v2/droplets", 202,
                {"name": "conf-1", "region": "ams3", "size": "s-1vcpu-1gb", "image": "debian-13-x64",
                 "ssh_keys": [fp], "tags": ["conformance"]})
        two = c("/v2/droplets", "POST", "/v2/droplets", 202,
                {"names": ["conf-2", "conf-3"], "region": "ams3", "size": "s-1vcpu-1gb",
                 "image": "debian-13-x64", "ssh_keys": [kid], "tags": ["conformance", "conf-multi"]})
        d1 = one["droplet"]["id"]
        wait_active(base, d1)
        for d in two["droplets"]:
            wait_active(base, d["id"])
        c("/v2/droplets", "GET", "/v2/droplets?tag_name=conformance", 200)
        c("/v2/droplets", "GET", "/v2/droplets?per_page=1&page=2", 200)
        c("/v2/droplets/{droplet_id}", "GET", f"/v2/droplets/{d1}", 200)
        act = c("/v2/droplets/{droplet_id}/actions", "POST", f"/v2/droplets/{d1}/actions", 201, {"type": "power_off"})
        wait_action(base, act["action"]["id"])
        c("/v2/actions/{action_id}", "GET", f"/v2/actions/{act['action']['id']}", 200)
        c("/v2/droplets/{droplet_id}/actions/{action_id}", "GET", f"/v2/droplets/{d1}/actions/{act['action']['id']}", 200)
        act = c("/v2/droplets/{droplet_id}/actions", "POST", f"/v2/droplets/{d1}/actions", 201, {"type": "power_on"})
        wait_action(base, act["action"]["id"])
        act = c("/v2/droplets/{droplet_id}/actions", "POST", f"/v2/droplets/{d1}/actions", 201, {"type": "reboot"})
        wait_action(base, act["action"]["id"])
        c("/v2/droplets/{droplet_id}/actions", "GET", f"/v2/droplets/{d1}/actions", 200)
        c("/v2/domains", "POST", "/v2/domains", 201, {"name": "conformance.example.com", "ip_address": "198.18.0.10"})
        c("/v2/domains", "GET", "/v2/domains", 200)
        c("/v2/domains/{domain_name}", "GET", "/v2/domains/conformance.example.com", 200)
        rec = c("/v2/domains/{domain_name}/records", "POST", "/v2/domains/conformance.example.com/records", 201,
                {"type": "A", "name": "www", "data": "198.18.0.10", "ttl": 60})
        rid = rec["domain_record"]["id"]
        c("/v2/domains/{domain_name}/records", "POST", "/v2/domains/conformance.example.com/records", 201,
          {"type": "CNAME", "name": "preview", "data": "@", "ttl": 60})
        c("/v2/domains/{domain_name}/records", "GET", "/v2/domains/conformance.example.com/records?type=A", 200)
        c("/v2/domains/{domain_name}/records/{domain_record_id}", "GET", f"/v2/domains/conformance.example.com/records/{rid}", 200)
        c("/v2/domains/{domain_name}/records/{domain_record_id}", "PATCH", f"/v2/domains/conformance.example.com/records/{rid}", 200, {"type": "A", "data": "198.18.0.11"})
        c("/v2/domains/{domain_name}/records/{domain_record_id}", "PUT", f"/v2/domains/conformance.example.com/records/{rid}", 200, {"type": "A", "data": "198.18.0.12"})
        c("/v2/domains/{domain_name}/records/{domain_record_id}", "DELETE", f"/v2/domains/conformance.example.com/records/{rid}", 204)
        c("/v2/tags", "POST", "/v2/tags", 201, {"name": "conf-extra"})
        c("/v2/tags", "GET", "/v2/tags", 200)
        c("/v2/tags/{tag_id}", "GET", "/v2/tags/conformance", 200)
        c("/v2/tags/{tag_id}/resources", "POST", "/v2/tags/conf-extra/resources", 204,
          {"resources": [{"resource_id": str(d1), "resource_type": "droplet"}]})
        c("/v2/tags/{tag_id}/resources", "DELETE", "/v2/tags/conf-extra/resources", 204,
          {"resources": [{"resource_id": str(d1), "resource_type": "droplet"}]})
        c("/v2/tags/{tag_id}", "DELETE", "/v2/tags/conf-extra", 204)
        cert = c("/v2/certificates", "POST", "/v2/certificates", 201,
                 {"name": "conf-cert", "type": "lets_encrypt",
                  "dns_names": ["conformance.example.com", "*.conformance.example.com"]})
        cid = cert["certificate"]["id"]
        c("/v2/certificates", "GET", "/v2/certificates", 200)
        c("/v2/certificates", "GET", "/v2/certificates?name=conf-cert", 200)
        wait_certificate(base, cid)
        c("/v2/certificates/{certificate_id}", "GET", f"/v2/certificates/{cid}", 200)
        rule = {"entry_protocol": "http", "entry_port": 80, "target_protocol": "http", "target_port": 80}
        tls_rule = {"entry_protocol": "https", "entry_port": 443, "target_protocol": "http",
                    "target_port": 80, "certificate_id": cid}
        lb = c("/v2/load_balancers", "POST", "/v2/load_balancers", 202,
               {"name": "conf-lb", "region": "ams3", "forwarding_rules": [rule], "droplet_ids": [d1]})
        lbid = lb["load_balancer"]["id"]
        c("/v2/load_balancers", "GET", "/v2/load_balancers", 200)
        c("/v2/load_balancers/{lb_id}", "GET", f"/v2/load_balancers/{lbid}", 200)
        c("/v2/load_balancers/{lb_id}", "PUT", f"/v2/load_balancers/{lbid}", 200,
          {"name": "conf-lb", "region": "ams3", "forwarding_rules": [rule, tls_rule], "droplet_ids": [d1],
           "redirect_http_to_https": True, "disable_lets_encrypt_dns_records": True})
        ids = [d["id"] for d in two["droplets"]]
        c("/v2/load_balancers/{lb_id}/droplets", "POST", f"/v2/load_balancers/{lbid}/droplets", 204, {"droplet_ids": ids})
        c("/v2/load_balancers/{lb_id}/droplets", "DELETE", f"/v2/load_balancers/{lbid}/droplets", 204, {"droplet_ids": ids})
        c("/v2/load_balancers/{lb_id}", "DELETE", f"/v2/load_balancers/{lbid}", 204)
        c("/v2/certificates/{certificate_id}", "DELETE", f"/v2/certificates/{cid}", 204)
        c("/v2/certificates/{certificate_id}", "GET", f"/v2/certificates/{cid}", 404)
        c("/v2/droplets/{droplet_id}", "GET", "/v2/droplets/999", 404)
        c("/v2/droplets/{droplet_id}", "DELETE", f"/v2/droplets/{d1}", 204)
        c("/v2/droplets", "DELETE", "/v2/droplets?tag_name=conf-multi", 204)
        c("/v2/domains/{domain_name}", "DELETE", "/v2/domains/conformance.example.com", 204)
        c("/v2/account/keys/{ssh_key_identifier}", "DELETE", f"/v2/account/keys/{kid}", 204)
    finally:
        prism.terminate()
        prism.wait(timeout=10)


def with_pydo():
    import pydo
    from azure.core.credentials import AzureKeyCredential
    from azure.core.pipeline.policies import AzureKeyCredentialPolicy

    client = pydo.Client(
        token=TOKEN, endpoint=UPSTREAM,
        authentication_policy=AzureKeyCredentialPolicy(AzureKeyCredential(TOKEN), "Authorization", prefix="Bearer"))
    tag = f"pydo-{os.getpid()}"
    print("pydo against the lab:")
    key = client.ssh_keys.create({"name": "pydo", "public_key": new_public_key("pydo")})["ssh_key"]
    print(f"  key {key['id']} {key['fingerprint']}")
    created = client.droplets.create({"name": "pydo-1", "region": "ams3", "size": "s-1vcpu-1gb",
                                      "image": "debian-13-x64", "ssh_keys": [key["fingerprint"]], "tags": [tag]})
    did = created["droplet"]["id"]
    deadline = time.time() + 60
    while client.droplets.get(did)["droplet"]["status"] != "active":
        if time.time() > deadline:
            failures.append("pydo: droplet never became active")
            break
        time.sleep(0.2)
    listed = client.droplets.list(tag_name=tag)
    if [d["id"] for d in listed["droplets"]] != [did] or listed["meta"]["total"] != 1:
        failures.append(f"pydo: list by tag gave {listed}")
    print(f"  droplet {did} active, listed by tag")
    client.domains.create({"name": "pydo.example.com"})
    rec = client.domains.create_record("pydo.example.com", {"type": "A", "name": "@", "data": "198.18.0.20", "ttl": 60})
    records = client.domains.list_records("pydo.example.com", type="A")
    if records["meta"]["total"] != 1 or records["domain_records"][0]["id"] != rec["domain_record"]["id"]:
        failures.append(f"pydo: records {records}")
    print("  domain and A record created and listed")
    client.droplets.destroy_by_tag(tag_name=tag)
    if client.droplets.list(tag_name=tag)["meta"]["total"] != 0:
        failures.append("pydo: droplets left after delete by tag")
    client.domains.delete("pydo.example.com")
    client.ssh_keys.delete(key["id"])
    print("  deleted by tag; nothing left")


def with_python_digitalocean():
    # The client's own setting for another API; every object it makes
    # (droplets from a list, the account) reads it, where an `end_point`
    # argument would reach only the object it is given to. urljoin needs
    # the trailing slash of DO's own default.
    os.environ["DIGITALOCEAN_END_POINT"] = API + "/"
    import digitalocean

    tag = f"pdo-{os.getpid()}"
    print("python-digitalocean against the lab:")
    manager = digitalocean.Manager(token=TOKEN)
    account = manager.get_account()
    if account.status != "active" or account.droplet_limit < 1:
        failures.append(f"python-digitalocean: account {vars(account)}")
    key = digitalocean.SSHKey(token=TOKEN, name="pdo", public_key=new_public_key("pdo"))
    key.create()
    if key.id not in [k.id for k in manager.get_all_sshkeys()]:
        failures.append(f"python-digitalocean: key {key.id} not listed")
    print(f"  account {account.email}, key {key.id}")
    droplet = digitalocean.Droplet(token=TOKEN, name="pdo-1", region="ams3", image="debian-13-x64",
                                   size_slug="s-1vcpu-1gb", ssh_keys=[key.id], tags=[tag])
    droplet.create()
    # As its README waits for a new droplet: the droplet's actions, loaded.
    deadline = time.time() + 60
    while True:
        actions = droplet.get_actions()
        if actions and all(a.status == "completed" for a in actions):
            break
        if any(a.status == "errored" for a in actions) or time.time() > deadline:
            failures.append(f"python-digitalocean: create actions {[vars(a) for a in actions]}")
            break
        time.sleep(0.2)
    droplet.load()
    if droplet.status != "active" or not (droplet.ip_address or "").startswith("198.18."):
        failures.append(f"python-digitalocean: droplet {droplet.id} {droplet.status} {droplet.ip_address}")
    listed = manager.get_all_droplets(tag_name=tag)
    if [d.id for d in listed] != [droplet.id] or listed[0].image["slug"] != "debian-13-x64":
        failures.append(f"python-digitalocean: list by tag gave {[vars(d) for d in listed]}")
    print(f"  droplet {droplet.id} active at {droplet.ip_address}, listed by tag")
    domain = digitalocean.Domain(token=TOKEN, name="pdo.example.com", ip_address=droplet.ip_address)
    domain.create()
    domain.create_new_domain_record(type="A", name="www", data=droplet.ip_address, ttl=60)
    records = {(r.type, r.name, r.data) for r in domain.get_records()}
    if ("A", "www", droplet.ip_address) not in records or ("A", "@", droplet.ip_address) not in records:
        failures.append(f"python-digitalocean: records {records}")
    print("  domain and A records created and listed")
    droplet.destroy()
    if manager.get_all_droplets(tag_name=tag):
        failures.append("python-digitalocean: the droplet is still listed after destroy")
    domain.destroy()
    key.destroy()
    if any(d.name == "pdo.example.com" for d in manager.get_all_domains()):
        failures.append("python-digitalocean: the domain is still listed after destroy")
    print("  destroyed; nothing left")


through_prism()
with_pydo()
with_python_digitalocean()
if failures:
    print(f"\n{len(failures)} conformance failure(s):")
    for f in failures:
        print(f"  - {f}")
    sys.exit(1)
print("\nconformance: every request and response matched DO's spec")
