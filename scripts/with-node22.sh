#!/usr/bin/env bash
# Runs a command under Node.js 22 or newer. Machines that ship an older Node get Node 22 from the
# npm registry's `node` package, installed once into a local prefix (no root, no other download).
set -euo pipefail
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 22 ]; then
  prefix="${AEG_NODE22_PREFIX:-$HOME/.local/node22}"
  if [ ! -x "$prefix/bin/node" ]; then
    echo "aeg: Node.js $(node --version 2>/dev/null || echo '(none)') is too old; installing Node 22 into $prefix" >&2
    npm install --global --no-audit --no-fund --prefix "$prefix" node@22 >&2
  fi
  export PATH="$prefix/bin:$PATH"
fi
exec "$@"
