#!/usr/bin/env bash
# summary: Make room for a release streamed from another server of the environment (deploy-apply creates it); a release already serving here is kept, a half-copied one from a cut run is removed
# input ROOT [text]: the environment's directory on the server
# input RELEASE [text]: the release id that will arrive
set -euo pipefail
[[ "$RELEASE" =~ ^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}$ ]] || { echo "bad release id: $RELEASE" >&2; exit 2; }
cd "$ROOT"
[[ -L current ]] || { echo "$ROOT is not provisioned (no current link); run pond provision first" >&2; exit 3; }
new="releases/$RELEASE"
in_use=" $(readlink blue) $(readlink green) "
if [[ "$in_use" == *" $new "* ]]; then
    report import-ready live "$(readlink current)" serving yes
    exit 0
fi
# A half-copied release from a cut run; deploy-apply creates it afresh.
rm -rf -- "$new"
report import-ready live "$(readlink current)" serving no
