#!/usr/bin/env bash
# summary: say whether nginx serves the environment's domain and its preview hosts over HTTPS (for the URLs Pond prints)
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
set -euo pipefail
domain=no
previews=no
vhost="/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.conf"
if [[ -L "$vhost" && "$(readlink "$vhost")" == *.https.conf ]]; then
    domain=yes
fi
if [[ -L "/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.previews.conf" ]]; then
    previews=yes
fi
report schemes domain_https "$domain" previews_https "$previews"
