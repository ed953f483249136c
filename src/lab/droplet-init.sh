#!/bin/bash
# PID 1 of a Pond lab droplet (there is no systemd in the lab).
# Starts sshd, then every service linked as /etc/rc2.d/S* (Debian's
# update-rc.d makes these links for nginx, php-fpm, mariadb, ...), reaps
# orphaned children, and on TERM stops the services and everything else.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec >>/var/log/pond-lab-init.log 2>&1
echo "boot $(date -u +%FT%TZ)"
mkdir -p /run/sshd /run/lock
chmod 1777 /run/lock
/usr/sbin/sshd -E /var/log/sshd.log || echo "sshd failed to start"
for service in /etc/rc2.d/S*; do
    [ -x "$service" ] && "$service" start
done

shutdown() {
    echo "shutdown $(date -u +%FT%TZ)"
    for service in /etc/rc2.d/K* /etc/rc2.d/S*; do
        [ -x "$service" ] && "$service" stop
    done
    kill -TERM -1 2>/dev/null
    sleep 1
    kill -KILL -1 2>/dev/null
    exit 0
}
trap shutdown TERM INT

while :; do
    sleep 3600 &
    wait $!
done
