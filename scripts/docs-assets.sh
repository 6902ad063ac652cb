#!/usr/bin/env bash
# docs-assets.sh DIR - put the documentation renderer (Redoc's standalone
# bundle, from npm) into DIR so /docs works without any CDN. Idempotent.
set -euo pipefail
DIR=${1:?usage: docs-assets.sh DIR}
[ -s "$DIR/redoc.standalone.js" ] && exit 0
mkdir -p "$DIR"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# npm pack fetches the package alone (no dependencies): the bundle is self-contained.
(cd "$tmp" && npm pack --silent redoc@2 > /dev/null)
tar -xzf "$tmp"/redoc-*.tgz -C "$tmp" package/bundles/redoc.standalone.js
cp "$tmp/package/bundles/redoc.standalone.js" "$DIR/redoc.standalone.js.tmp"
mv "$DIR/redoc.standalone.js.tmp" "$DIR/redoc.standalone.js"
