#!/usr/bin/env bash
# docs-assets.sh DIR - put the renderer of the /docs page (Redoc's standalone
# bundle, from the npm package "redoc") into DIR, so the page works without
# any CDN. chat-api serves DIR/redoc.standalone.js when DOCS_ASSETS_DIR=DIR.
#
# Idempotent: does nothing when DIR already holds the bundle of the pinned
# version (REDOC_VERSION, recorded in DIR/redoc.version). Needs npm and the
# npm registry only when it has to fetch; if that fails while DIR holds an
# older bundle, it keeps that one. The bundle is self-contained, so the
# package is fetched alone (npm pack), without its dependencies.
set -euo pipefail

REDOC_VERSION=${REDOC_VERSION:-2.5.4}
DIR=${1:?usage: docs-assets.sh DIR}

if [ -s "$DIR/redoc.standalone.js" ] && [ "$(cat "$DIR/redoc.version" 2>/dev/null)" = "$REDOC_VERSION" ]; then
    exit 0
fi
mkdir -p "$DIR"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && npm pack --silent "redoc@$REDOC_VERSION" > /dev/null); then
    [ -s "$DIR/redoc.standalone.js" ] || exit 1
    echo "docs-assets.sh: could not fetch redoc@$REDOC_VERSION; keeping the bundle already in $DIR" >&2
    exit 0
fi
tar -xzf "$tmp/redoc-$REDOC_VERSION.tgz" -C "$tmp" package/bundles/redoc.standalone.js
[ -s "$tmp/package/bundles/redoc.standalone.js" ] || { echo "docs-assets.sh: redoc@$REDOC_VERSION has no bundles/redoc.standalone.js" >&2; exit 1; }
# Write beside the target and rename, so a running chat-api never reads half a file.
cp "$tmp/package/bundles/redoc.standalone.js" "$DIR/.redoc.standalone.js.tmp"
mv "$DIR/.redoc.standalone.js.tmp" "$DIR/redoc.standalone.js"
printf '%s\n' "$REDOC_VERSION" > "$DIR/redoc.version"
