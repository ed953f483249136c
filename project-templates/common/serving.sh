#!/usr/bin/env bash
# summary: say whether nginx serves the environment's domain and its preview hosts over HTTPS (for the URLs Pond prints)
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
set -euo pipefail
domain=http
previews=http
vhost="/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.conf"
if [[ -L "$vhost" && "$(readlink "$vhost")" == *.https.conf ]]; then
    domain=https
fi
if [[ -L "/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.previews.conf" ]]; then
    previews=https
fi
echo "SERVING $domain $previews"
