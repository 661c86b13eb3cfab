#!/bin/sh
# Seeds the docker-compose Vault dev server for the broker (LOCAL USE ONLY).
# Runs in the hashicorp/vault image (busybox sh + the vault CLI) as the
# one-shot `vault-seed` service; safe to run again.
#
#   1. KV v2 at secret/ (the dev server mounts it; enabled here if missing);
#   2. secret/qlik/regions/<region> = {client_id, client_secret} for each of
#      SEED_REGIONS, matching the simulator's demo clients
#      (demo-<region>-client / demo-<region>-secret);
#   3. policy qlik-broker: read secret/data/qlik/regions/* (the secrets) and
#      secret/metadata/qlik/regions/* (their current version, no values);
#   4. AppRole qlik-broker with that policy and a fixed role_id (BROKER_ROLE_ID,
#      not a secret: the broker gets it as VAULT_ROLE_ID);
#   5. a fresh secret_id in OUTPUT_DIR/vault-secret-id (VAULT_SECRET_ID_FILE),
#      and a cache encryption key in OUTPUT_DIR/cache-encryption-keys
#      (CACHE_ENCRYPTION_KEYS_FILE), kept if it already exists so tokens
#      cached in Redis stay readable across restarts.
# Both files are made readable by the broker's uid 65532 (distroless nonroot) only.
set -eu

: "${VAULT_ADDR:?VAULT_ADDR is required}"
: "${VAULT_TOKEN:?VAULT_TOKEN is required}"
SEED_REGIONS="${SEED_REGIONS:-eu us}"
BROKER_ROLE_ID="${BROKER_ROLE_ID:-qlik-broker-compose}"
OUTPUT_DIR="${OUTPUT_DIR:-/run/qlik-broker}"
BROKER_UID="${BROKER_UID:-65532}"
KV_MOUNT=secret
SECRET_PREFIX=qlik/regions
ROLE=qlik-broker

log() { echo "vault-seed: $*"; }

# Owned by the broker, mode 0400; chown only works (and matters) as root.
protect() {
  if [ "$(id -u)" = 0 ]; then chown "$BROKER_UID:$BROKER_UID" "$1"; fi
  chmod 0400 "$1"
}

if ! vault secrets list | grep -q "^${KV_MOUNT}/"; then
  log "enabling KV v2 at ${KV_MOUNT}/"
  vault secrets enable -path="$KV_MOUNT" -version=2 kv
fi

for region in $SEED_REGIONS; do
  vault kv put -mount="$KV_MOUNT" "$SECRET_PREFIX/$region" \
    client_id="demo-$region-client" client_secret="demo-$region-secret" > /dev/null
  log "wrote $KV_MOUNT/data/$SECRET_PREFIX/$region"
done

vault policy write "$ROLE" - > /dev/null <<EOF
# Read the regional client credentials (KV v2 data path)...
path "$KV_MOUNT/data/$SECRET_PREFIX/*" {
  capabilities = ["read"]
}
# ...and their version number, which shows a rotation without reading the secret.
path "$KV_MOUNT/metadata/$SECRET_PREFIX/*" {
  capabilities = ["read"]
}
EOF
log "wrote policy $ROLE"

if ! vault auth list | grep -q '^approle/'; then
  vault auth enable approle > /dev/null
  log "enabled auth approle/"
fi
vault write "auth/approle/role/$ROLE" \
  token_policies="$ROLE" token_ttl=1h token_max_ttl=4h secret_id_ttl=0 > /dev/null
vault write "auth/approle/role/$ROLE/role-id" role_id="$BROKER_ROLE_ID" > /dev/null
log "approle $ROLE has role_id $BROKER_ROLE_ID"

mkdir -p "$OUTPUT_DIR"
secret_id_file="$OUTPUT_DIR/vault-secret-id"
rm -f "$secret_id_file"
vault write -f -field=secret_id "auth/approle/role/$ROLE/secret-id" > "$secret_id_file"
protect "$secret_id_file"
log "wrote a new secret_id to $secret_id_file"

keys_file="$OUTPUT_DIR/cache-encryption-keys"
if [ ! -s "$keys_file" ]; then
  printf 'compose-%s:%s\n' "$(date +%Y%m%d)" "$(head -c 32 /dev/urandom | base64)" > "$keys_file"
  protect "$keys_file"
  log "wrote a new cache encryption key to $keys_file"
fi

log "done"
