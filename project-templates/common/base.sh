#!/usr/bin/env bash
# summary: Base server setup: packages, Pond's root-owned directories, timezone, swap on small droplets, security upgrades, firewall
# input TIMEZONE [text]: an IANA time zone such as UTC or Europe/Amsterdam
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt_install() {
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

echo "== packages"
# An index download can stall (a mirror or proxy that stops answering):
# bound each attempt and retry, rather than hang the whole provision.
for attempt in 1 2 3; do
    if timeout 180 apt-get update -q -o DPkg::Lock::Timeout=300 \
        -o Acquire::http::Timeout=30 -o Acquire::Retries=3; then
        break
    fi
    [[ $attempt -lt 3 ]] || { echo "apt-get update failed 3 times" >&2; exit 1; }
    echo "apt-get update stalled or failed (attempt $attempt); retrying" >&2
    sleep 2
done
apt_install ca-certificates curl tar zstd util-linux procps acl unattended-upgrades nftables tzdata

echo "== directories"
# Root's: each environment has users of its own (common/env-users).
for dir in /var/www/pond /var/www/pond/projects; do
    [[ ! -L "$dir" ]] || { echo "$dir is a symbolic link; refusing to follow it" >&2; exit 3; }
done
install -d -o root -g root -m 0755 /var/www /var/www/pond /var/www/pond/projects

echo "== sshd: keys only, notice vanished clients"
# Keys only (no passwords), root by key only. A client that vanishes (cut
# link) is dropped within ~15 s, which ends its remote commands and frees
# the deploy lock it held.
mkdir -p /etc/ssh/sshd_config.d
# sshd takes the first value it reads, and reads this directory in order:
# 00- comes before a cloud image's own (50-cloud-init.conf may allow
# passwords).
sshd_conf=/etc/ssh/sshd_config.d/00-pond.conf
desired_sshd="$(printf 'PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nClientAliveInterval 5\nClientAliveCountMax 3\n')"
if [[ -e /etc/ssh/sshd_config.d/pond.conf ]]; then
    # An older Pond's name for it.
    touch "$sshd_conf.pending"
    rm -f /etc/ssh/sshd_config.d/pond.conf
fi
if [[ "$(cat "$sshd_conf" 2>/dev/null)" != "$desired_sshd" ]]; then
    touch "$sshd_conf.pending"
    printf '%s\n' "$desired_sshd" > "$sshd_conf"
fi
if [[ -e "$sshd_conf.pending" ]]; then
    if sshd -t; then
        systemctl reload ssh
    else
        rm -f "$sshd_conf"
        echo "sshd rejected Pond's settings; left unchanged" >&2
    fi
    rm -f "$sshd_conf.pending"
fi

echo "== timezone"
if [[ ! -e "/usr/share/zoneinfo/$TIMEZONE" ]]; then
    echo "unknown time zone: $TIMEZONE" >&2
    exit 2
fi
ln -sfn "/usr/share/zoneinfo/$TIMEZONE" /etc/localtime
printf '%s\n' "$TIMEZONE" > /etc/timezone

echo "== swap"
mem_kb="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
root_fs="$(findmnt -n -o FSTYPE / || true)"
if [[ "$mem_kb" -lt 2000000 ]] && ! swapon --show=NAME --noheadings | grep -q .; then
    if [[ "$root_fs" == overlay ]]; then
        echo "small droplet, but / is an overlay (lab): no swap file"
    elif [[ ! -f /swapfile ]]; then
        fallocate -l 1G /swapfile
        chmod 600 /swapfile
        mkswap /swapfile >/dev/null
        swapon /swapfile || echo "swapon refused; continuing without swap"
        grep -q '^/swapfile ' /etc/fstab || echo '/swapfile none swap sw 0 0' >> /etc/fstab
    fi
else
    echo "swap not needed or already on"
fi

echo "== security upgrades"
cat > /etc/apt/apt.conf.d/20auto-upgrades <<'CONF'
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
CONF

echo "== firewall (22 rate-limited per source, 80, 443; 3306 only from this environment's web servers)"
install -d /etc/pond/firewall-db.d
echo "# Files here add the web servers allowed to reach MariaDB." > /etc/pond/firewall-db.d/00-none.nft
cat > /etc/nftables.conf <<'CONF'
#!/usr/sbin/nft -f
# Written by Pond: allow SSH (new connections rate-limited per source
# address) and HTTP(S) in, MariaDB from the addresses mysql/database
# lists, everything out.
flush ruleset
table inet filter {
    set pond_db_clients {
        type ipv4_addr
    }
    # New SSH connections per source address (per /64 for IPv6): a burst
    # of 30, then 2 a second (a client over the limit retries its SYN a
    # second later).
    set pond_ssh4 {
        type ipv4_addr
        size 65535
        flags dynamic, timeout
        timeout 2m
    }
    set pond_ssh6 {
        type ipv6_addr
        size 65535
        flags dynamic, timeout
        timeout 2m
    }
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        iif lo accept
        ip protocol icmp accept
        ip6 nexthdr icmpv6 accept
        tcp dport 22 ct state new update @pond_ssh4 { ip saddr limit rate over 2/second burst 30 packets } drop
        tcp dport 22 ct state new update @pond_ssh6 { ip6 saddr and ffff:ffff:ffff:ffff:: limit rate over 2/second burst 30 packets } drop
        tcp dport { 22, 80, 443 } accept
        ip saddr @pond_db_clients tcp dport 3306 accept
    }
}
include "/etc/pond/firewall-db.d/*.nft"
CONF
if nft -f /etc/nftables.conf 2>/dev/null; then
    systemctl enable --quiet nftables
    echo "firewall active"
else
    echo "nftables is not usable here; firewall not applied" >&2
fi
echo "base: done"
