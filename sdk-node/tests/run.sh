#!/usr/bin/env bash
# The Node SDK's tests as a user meets the SDK: the addon is built (cargo, debug), `npm pack`
# makes the package, a fresh project installs it, and `node --test` runs sdk-node/tests there
# against a granary-server the tests start (target/debug/granary-server, or $GRANARY_SERVER).
# `make test` runs this.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
project="$root/target/sdk-node-project"

cargo build --locked --quiet -p granary-node
cp "$root/target/debug/libgranary_node.so" "$root/sdk-node/granary.node"
rm -rf "$project"
mkdir -p "$project"
package="$(cd "$root/sdk-node" && npm pack --silent --pack-destination "$project")"
cd "$project"
npm init -y --silent >/dev/null
npm install --silent --no-audit --no-fund "./$package"
cp "$root"/sdk-node/tests/*.js "$root/sdk-node/README.md" .
GRANARY_SERVER="${GRANARY_SERVER:-$root/target/debug/granary-server}" node --test ./*.test.js
