#!/usr/bin/env bash
# summary: nginx only, for static sites
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold nginx
rm -f /etc/nginx/sites-enabled/default
systemctl enable --quiet --now nginx
echo "static stack: nginx ready"
