/**
 * Every setting the broker reads from the environment: where it lands in the
 * configuration, what it means, its default and an example. The README's
 * configuration reference is generated from this table (a test keeps them in step).
 */
export interface EnvSetting {
  env: string
  /** Dot path in the raw configuration object, e.g. `server.port`. */
  key: string
  description: string
  default?: string
  example: string
}

export const ENV_SETTINGS: readonly EnvSetting[] = [
  { env: 'BROKER_CONFIG_FILE', key: 'configFile', description: 'YAML or JSON file with `regions`, `callers` (and their policy) and JWT `issuers`. Optional.', example: '/etc/qlik-broker/config.yaml' },
  { env: 'BROKER_CONFIG_CHECK_INTERVAL_SECONDS', key: 'governance.configCheckIntervalSeconds', description: 'The config file is watched and its `callers` (keys, grants) reloaded when it changes; this is how often its modification time is also checked, for file systems where watching misses a change. A file that does not validate is refused (logged) and the previous policy stays in force.', default: '30', example: '10' },
  { env: 'BROKER_HOST', key: 'server.host', description: 'Address to listen on.', default: '0.0.0.0', example: '127.0.0.1' },
  { env: 'BROKER_PORT', key: 'server.port', description: 'Port to listen on (0 picks a free one).', default: '8080', example: '8080' },
  { env: 'LOG_LEVEL', key: 'server.logLevel', description: 'pino level: fatal, error, warn, info, debug, trace or silent.', default: 'info', example: 'debug' },
  { env: 'BROKER_BODY_LIMIT_BYTES', key: 'server.bodyLimitBytes', description: 'Largest request body accepted.', default: '1048576', example: '262144' },
  { env: 'BROKER_REQUEST_TIMEOUT_MS', key: 'server.requestTimeoutMs', description: 'Time a caller has to send a whole request.', default: '60000', example: '30000' },
  { env: 'BROKER_KEEP_ALIVE_TIMEOUT_MS', key: 'server.keepAliveTimeoutMs', description: 'Idle keep-alive of caller connections; keep it above any load balancer idle timeout.', default: '72000', example: '65000' },
  { env: 'BROKER_SHUTDOWN_GRACE_MS', key: 'server.shutdownGraceMs', description: 'On SIGTERM, how long in-flight requests may take before the process exits anyway.', default: '10000', example: '25000' },
  { env: 'BROKER_DOCS_ENABLED', key: 'server.docsEnabled', description: 'Serve Swagger UI at /docs (the document at /openapi.json is always served).', default: 'true', example: 'false' },
  { env: 'SECRETS_SOURCE', key: 'secrets.source', description: 'Where regional client credentials come from: `file` or `vault`.', default: 'file', example: 'vault' },
  { env: 'SECRETS_DIR', key: 'secrets.dir', description: 'With `file`: folder holding one `<region>.json` or `<region>.yaml` per region, the shape a Vault Agent template renders (`{"client_id","client_secret"}`).', default: './secrets', example: '/vault/secrets' },
  { env: 'SECRETS_CHECK_INTERVAL_SECONDS', key: 'secrets.checkIntervalSeconds', description: 'How often the broker checks for a new secret version (Vault metadata, or the files\' content), so a rotated secret is used without waiting for Qlik to reject the old one.', default: '60', example: '30' },
  { env: 'VAULT_ADDR', key: 'secrets.vault.address', description: 'Vault address.', default: 'http://127.0.0.1:8200', example: 'https://vault.internal:8200' },
  { env: 'VAULT_NAMESPACE', key: 'secrets.vault.namespace', description: 'Vault Enterprise/HCP namespace. Optional.', example: 'platform/' },
  { env: 'VAULT_KV_MOUNT', key: 'secrets.vault.kvMount', description: 'Mount of the KV v2 engine holding the secrets.', default: 'secret', example: 'kv' },
  { env: 'VAULT_SECRET_PATH_TEMPLATE', key: 'secrets.vault.pathTemplate', description: 'KV v2 path of a region\'s secret inside the mount; `{region}` is replaced. A region in the config file may set its own `secretPath`.', default: 'qlik/regions/{region}', example: 'qlik-broker/{region}' },
  { env: 'VAULT_AUTH_METHOD', key: 'secrets.vault.authMethod', description: 'How the broker logs in to Vault: `token`, `approle` or `kubernetes`.', default: 'kubernetes', example: 'approle' },
  { env: 'VAULT_TOKEN', key: 'secrets.vault.token', description: 'With `token`: the Vault token. Prefer VAULT_TOKEN_FILE.', example: 'hvs.CAESI…' },
  { env: 'VAULT_TOKEN_FILE', key: 'secrets.vault.tokenFile', description: 'With `token`: file holding the Vault token, e.g. a Vault Agent sink. Checked for new content every 5 s and read again whenever Vault refuses the token, so a token the agent writes after logging in again is used without a restart. May be absent at start-up (an agent still logging in).', example: '/vault/secrets/token' },
  { env: 'VAULT_APPROLE_MOUNT', key: 'secrets.vault.approleMount', description: 'With `approle`: auth mount.', default: 'approle', example: 'approle-broker' },
  { env: 'VAULT_ROLE_ID', key: 'secrets.vault.roleId', description: 'With `approle`: the role id.', example: 'db02de05-fa39-4855-059b-67221c5c2f63' },
  { env: 'VAULT_SECRET_ID_FILE', key: 'secrets.vault.secretIdFile', description: 'With `approle`: file holding the secret id. Read at every login; when its content changes (checked every 5 s) the broker logs in with the new secret id at once and keeps its current token if that login fails.', example: '/run/secrets/vault-secret-id' },
  { env: 'VAULT_SECRET_ID', key: 'secrets.vault.secretId', description: 'With `approle`: the secret id. Prefer VAULT_SECRET_ID_FILE.', example: '6a174c20-f6de-a53c-74d2-6018fcceff64' },
  { env: 'VAULT_K8S_MOUNT', key: 'secrets.vault.kubernetesMount', description: 'With `kubernetes`: auth mount.', default: 'kubernetes', example: 'kubernetes-prod' },
  { env: 'VAULT_K8S_ROLE', key: 'secrets.vault.kubernetesRole', description: 'With `kubernetes`: the Vault role bound to the broker\'s service account.', example: 'qlik-broker' },
  { env: 'VAULT_K8S_TOKEN_PATH', key: 'secrets.vault.kubernetesTokenPath', description: 'With `kubernetes`: projected service-account token, re-read at every login.', default: '/var/run/secrets/kubernetes.io/serviceaccount/token', example: '/var/run/secrets/vault/token' },
  { env: 'VAULT_TIMEOUT_MS', key: 'secrets.vault.timeoutMs', description: 'Timeout of one Vault request.', default: '5000', example: '3000' },
  { env: 'VAULT_CACERT', key: 'secrets.vault.caFile', description: 'PEM CA bundle to trust for Vault\'s TLS certificate. Optional.', example: '/etc/vault/ca.pem' },
  { env: 'REDIS_URL', key: 'cache.redisUrl', description: 'Redis for the shared token cache. Unset: an in-process cache (one replica only).', example: 'rediss://:password@redis:6379/0' },
  { env: 'REDIS_KEY_PREFIX', key: 'cache.keyPrefix', description: 'Prefix of every Redis key the broker writes.', default: 'qlik-broker:', example: 'qb-prod:' },
  { env: 'CACHE_ENCRYPTION_KEYS', key: 'cache.encryptionKeys', description: 'Keys that encrypt tokens in Redis (AES-256-GCM), `id:base64` comma-separated, the first encrypts. Required with REDIS_URL unless CACHE_ENCRYPTION_KEYS_FILE is set. `qlik-broker create-cache-key` makes one.', example: 'k2:3q2+7w…=,k1:Zm9v…=' },
  { env: 'CACHE_ENCRYPTION_KEYS_FILE', key: 'cache.encryptionKeysFile', description: 'File holding CACHE_ENCRYPTION_KEYS (one key per line or comma-separated).', example: '/vault/secrets/cache-keys' },
  { env: 'TOKEN_EXPIRY_MARGIN_SECONDS', key: 'cache.expiryMarginSeconds', description: 'A cached token is dropped this long before Qlik\'s expiry, so no expired token is ever sent.', default: '300', example: '600' },
  { env: 'TOKEN_REFRESH_WINDOW', key: 'cache.refreshWindow', description: 'A token in use is replaced in the background when this share of its lifetime has passed, picked at random in the window by each replica (the first one refreshes for all).', default: '0.6-0.8', example: '0.5-0.7' },
  { env: 'TOKEN_MINT_LEASE_MS', key: 'cache.mintLeaseMs', description: 'Lease of the Redis lock that lets one replica mint a key\'s token; renewed while minting, so it only bounds how long a crashed holder blocks the others.', default: '5000', example: '3000' },
  { env: 'IDEMPOTENCY_RETENTION_SECONDS', key: 'governance.idempotencyRetentionSeconds', description: 'How long the answer to a request with an `Idempotency-Key` is kept and replayed (Redis, or in process without REDIS_URL).', default: '86400', example: '172800' },
  { env: 'AUDIT_STREAM_MAX_LEN', key: 'governance.auditStreamMaxLen', description: 'Approximate number of audit events kept in the Redis stream `<prefix>audit` (`XADD MAXLEN ~`); without REDIS_URL the process keeps the last min(this, 10000).', default: '100000', example: '1000000' },
  { env: 'QLIK_DOMAIN', key: 'qlik.domain', description: 'Qlik Cloud domain; register hosts are `register.<region>.<domain>`, tenant hosts end in `.<region>.<domain>`.', default: 'qlikcloud.com', example: 'qlikcloud.com' },
  { env: 'QLIK_REGIONS', key: 'qlik.regions', description: 'Regions served, comma-separated, when the config file has no `regions`.', default: 'us,eu,de,uk,sg,ap,jp', example: 'eu,us' },
  { env: 'QLIK_UPSTREAM_ORIGIN', key: 'qlik.upstreamOrigin', description: 'Send every Qlik request to this origin instead of the host itself, keeping the Qlik host in the `Host` header (the simulator, or an egress proxy). Unset in production.', example: 'http://127.0.0.1:4100' },
  { env: 'QLIK_TENANT_READS_VIA', key: 'qlik.tenantReadsVia', description: 'Host for GET/PATCH of a tenant: `register` (the region\'s register host) or `tenant` (the tenant\'s own host).', default: 'register', example: 'tenant' },
  { env: 'QLIK_TIMEOUT_MS', key: 'qlik.timeoutMs', description: 'Time Qlik has to answer one request (headers and body).', default: '30000', example: '15000' },
  { env: 'QLIK_CONNECT_TIMEOUT_MS', key: 'qlik.connectTimeoutMs', description: 'Time to open a connection to Qlik.', default: '5000', example: '2000' },
  { env: 'QLIK_TIER1_LIMIT', key: 'qlik.tier1Limit', description: 'Qlik\'s Tier 1 limit (most GETs) per bot user per tenant, shared by all replicas: requests per window (`ms`, `s` or `m`).', default: '1000/60s', example: '500/60s' },
  { env: 'QLIK_TIER2_LIMIT', key: 'qlik.tier2Limit', description: 'Qlik\'s Tier 2 limit (writes, /oauth/token) per bot user per tenant.', default: '100/60s', example: '50/60s' },
  { env: 'QLIK_BUDGET_MAX_WAIT_MS', key: 'qlik.budgetMaxWaitMs', description: 'Longest a request waits for its share of Qlik\'s rate budget; beyond it the caller gets 429 with Retry-After.', default: '10000', example: '2000' },
  { env: 'QLIK_RETRY_MAX_ATTEMPTS', key: 'qlik.retryMaxAttempts', description: 'Attempts per Qlik call for 429s and transient failures (only where a retry cannot act twice).', default: '4', example: '6' },
  { env: 'QLIK_BREAKER_FAILURES', key: 'qlik.breakerFailures', description: 'Failures in a row (5xx, timeouts, connection errors) that open a host\'s circuit breaker.', default: '5', example: '10' },
  { env: 'QLIK_BREAKER_COOLDOWN_MS', key: 'qlik.breakerCooldownMs', description: 'How long an open breaker fails fast before letting one probe through.', default: '30000', example: '10000' },
  { env: 'BOT_USERS_BUDGET_FRACTION', key: 'botUsers.budgetFraction', description: 'Share (0–1] of each tenant\'s Tier 2 budget (QLIK_TIER2_LIMIT) a bot-user migration job may use for its moves; the rest stays for normal traffic through the broker. 0.5 moves about 50 items per minute per tenant at Qlik\'s default limit.', default: '0.5', example: '0.2' },
  { env: 'BOT_USERS_LEASE_SECONDS', key: 'botUsers.leaseSeconds', description: 'Lease of a running bot-user migration job in Redis, renewed every third of it: after a replica dies, another takes the job over within about this long and resumes it where it stopped.', default: '15', example: '30' },
  { env: 'CALLER_QUOTA', key: 'quota.default', description: 'Requests each caller may make per window, across all replicas (a caller in the config file may set its own `quota`). Answered with RateLimit headers; past it, 429.', default: '600/60s', example: '1200/60s' },
  { env: 'QLIK_TOKEN_SCOPE', key: 'qlik.tokenScope', description: 'Scope sent when minting; unset sends none, which Qlik answers with the client\'s fixed scopes.', example: 'admin_classic' },
  { env: 'OTEL_EXPORTER_OTLP_ENDPOINT', key: 'tracing.endpoint', description: 'OpenTelemetry collector (OTLP over HTTP); spans go to `<url>/v1/traces`. Setting it (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) turns tracing on; unset, tracing is off and OpenTelemetry is not even loaded. The exporter also reads the standard OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT and _COMPRESSION.', example: 'http://otel-collector:4318' },
  { env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', key: 'tracing.tracesEndpoint', description: 'Full URL spans are posted to, used as is; wins over OTEL_EXPORTER_OTLP_ENDPOINT.', example: 'http://otel-collector:4318/v1/traces' },
  { env: 'OTEL_SDK_DISABLED', key: 'tracing.sdkDisabled', description: '`true` keeps tracing off even with an endpoint set.', default: 'false', example: 'true' },
  { env: 'OTEL_SERVICE_NAME', key: 'tracing.serviceName', description: '`service.name` of the broker\'s spans.', default: 'qlik-broker', example: 'qlik-broker-eu' }
]
