import assert from 'node:assert/strict'
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parse as parseYaml, parseAllDocuments, stringify as toYaml } from 'yaml'
import { loadConfig, type Config } from '../../src/config/load-config.js'
import { ENV_SETTINGS } from '../../src/config/settings.js'
import { tracingSettings } from '../../src/observability/tracing.js'
import { chartDefaults, chartSchema, compileValuesSchema, mergeValues } from './chart-values.js'
import { describeManifest, findUnknownFields, validateWithModels, type Manifest } from './k8s-schema.js'
import { CHART_DIR, findTool, need, REPO_ROOT, run, runAll, tempDir, type RunResult } from './tools.js'

/** Oldest (the chart's kubeVersion floor) and newest Kubernetes the chart is tested against. */
const KUBE_VERSIONS = ['1.30.0', '1.35.0'] as const
const REQUIRED_SCENARIOS = ['default', 'vault-kubernetes', 'vault-agent', 'existing-secret', 'full', 'jwt-callers', 'redis-sentinel', 'redis-cluster']
const RELEASE = 'qb'
const NAMESPACE = 'brokers'
/**
 * Standard variables the OpenTelemetry exporter reads by itself, beside the
 * broker's own settings; the description of OTEL_EXPORTER_OTLP_ENDPOINT
 * names them (a test below holds it to that).
 */
const OTEL_EXPORTER_VARIABLES = ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TIMEOUT', 'OTEL_EXPORTER_OTLP_COMPRESSION']
/** Tuning the chart sets on every render; its defaults are the broker's own. */
const TUNING_SETTINGS = [
  'QLIK_TIER1_LIMIT', 'QLIK_TIER2_LIMIT', 'QLIK_BUDGET_MAX_WAIT_MS', 'QLIK_RETRY_MAX_ATTEMPTS', 'QLIK_BREAKER_FAILURES', 'QLIK_BREAKER_COOLDOWN_MS',
  'CALLER_QUOTA', 'TOKEN_EXPIRY_MARGIN_SECONDS', 'TOKEN_REFRESH_WINDOW', 'TOKEN_MINT_LEASE_MS',
  'IDEMPOTENCY_RETENTION_SECONDS', 'AUDIT_STREAM_MAX_LEN', 'BROKER_CONFIG_CHECK_INTERVAL_SECONDS', 'IDEMPOTENCY_MAX_KEYS_PER_CALLER', 'IDEMPOTENCY_MAX_BYTES_PER_CALLER',
  'REGISTRY_CACHE_SECONDS'
]

const helm = findTool('helm')
const scenarios = readdirSync(join(CHART_DIR, 'ci')).filter((file) => file.endsWith('-values.yaml')).map((file) => file.replace(/-values\.yaml$/, '')).sort()

// Everything the containers, volumes and annotations of a pod look like, as far as these tests read them.
interface EnvVar { name: string, value?: string, valueFrom?: { secretKeyRef?: { name: string, key: string } } }
interface Container {
  name: string
  image: string
  args?: string[]
  env?: EnvVar[]
  ports?: Array<{ name?: string, containerPort: number }>
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[] } }
  livenessProbe?: { httpGet?: { path: string, port: string | number } }
  readinessProbe?: { httpGet?: { path: string, port: string | number } }
  startupProbe?: { httpGet?: { path: string, port: string | number } }
  lifecycle?: { preStop?: { sleep?: { seconds: number }, exec?: unknown } }
  resources?: { requests?: Record<string, string>, limits?: Record<string, string> }
  volumeMounts?: Array<{ name: string, mountPath: string, readOnly?: boolean, subPath?: string }>
}
interface Volume {
  name: string
  emptyDir?: Record<string, unknown>
  configMap?: { name: string }
  secret?: { secretName: string, items?: Array<{ key: string, path: string }> }
  projected?: {
    sources: Array<{
      serviceAccountToken?: { audience?: string, expirationSeconds?: number, path: string }
      configMap?: { name: string, items?: Array<{ key: string, path: string }> }
    }>
  }
}
interface PodSpec {
  automountServiceAccountToken?: boolean
  serviceAccountName?: string
  securityContext?: Record<string, unknown> & { seccompProfile?: { type: string } }
  terminationGracePeriodSeconds?: number
  topologySpreadConstraints?: Array<{ labelSelector?: { matchLabels?: Record<string, string> }, topologyKey: string }>
  containers: Container[]
  volumes?: Volume[]
}
interface Deployment extends Manifest {
  spec: { replicas?: number, selector: { matchLabels: Record<string, string> }, template: { metadata: { annotations?: Record<string, string>, labels: Record<string, string> }, spec: PodSpec } }
}
interface PolicyRule { ports?: Array<{ port: number | string, protocol?: string }>, to?: Array<Record<string, unknown>>, from?: Array<Record<string, unknown>> }
interface NetworkPolicy extends Manifest {
  spec: { podSelector: { matchLabels: Record<string, string> }, policyTypes: string[], ingress: PolicyRule[], egress: PolicyRule[] }
}
interface ClusterRoleBinding extends Manifest {
  roleRef: { apiGroup: string, kind: string, name: string }
  subjects?: Array<{ kind: string, name: string, namespace?: string }>
}

function helmEnv (home: string): NodeJS.ProcessEnv {
  return { ...process.env, HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data') }
}

function parseManifests (text: string): Manifest[] {
  return parseAllDocuments(text).map((document) => document.toJS() as Manifest | null).filter((manifest): manifest is Manifest => manifest !== null)
}

function valuesFile (name: string): string {
  return join(CHART_DIR, 'ci', `${name}-values.yaml`)
}

function only<T extends Manifest> (manifests: readonly Manifest[], kind: string): T {
  const found = manifests.filter((manifest) => manifest.kind === kind)
  assert.equal(found.length, 1, `expected one ${kind}, got ${found.length}`)
  return found[0] as T
}

function envOf (container: Container): Map<string, EnvVar> {
  return new Map((container.env ?? []).map((variable) => [variable.name, variable]))
}

function brokerContainer (deployment: Deployment): Container {
  const container = deployment.spec.template.spec.containers.find((candidate) => candidate.name === 'broker')
  assert.ok(container, 'the Deployment has a container named broker')
  return container
}

/** `443/TCP,6443/TCP` for a NetworkPolicy rule. */
function portsOf (rule: PolicyRule): string {
  return (rule.ports ?? []).map((port) => `${port.port}/${port.protocol ?? 'TCP'}`).join(',')
}

function settingDefault (env: string): string | undefined {
  return ENV_SETTINGS.find((setting) => setting.env === env)?.default
}

await describe('helm chart helm/qlik-broker', { skip: helm.skip }, async () => {
  const home = tempDir('helm')
  const configFiles = tempDir('helm-config')
  /** `${scenario}@${kubeVersion}` -> manifests, including the helm test hook. */
  const rendered = new Map<string, Manifest[]>()
  /** `${scenario}@${kubeVersion}` -> what `helm lint --strict` said, asserted by its own test below. */
  const linted = new Map<string, RunResult>()

  function templateArgs (args: readonly string[]): string[] {
    return ['template', RELEASE, CHART_DIR, '--namespace', NAMESPACE, ...args]
  }

  async function template (args: readonly string[]): Promise<RunResult> {
    return await run(need(helm), templateArgs(args), { env: helmEnv(home.path) })
  }

  function manifestsOf (scenario: string, kubeVersion: string = KUBE_VERSIONS[1]): Manifest[] {
    need(helm)
    const manifests = rendered.get(`${scenario}@${kubeVersion}`)
    assert.ok(manifests, `scenario ${scenario} was rendered at ${kubeVersion}`)
    return manifests
  }

  /** Every render, checked complete, so that no test passes on an empty map. */
  function allRendered (): Array<[string, Manifest[]]> {
    need(helm)
    assert.equal(rendered.size, scenarios.length * KUBE_VERSIONS.length, 'every scenario rendered at every version')
    return [...rendered]
  }

  /**
   * What the broker of a scenario starts with: its container's plain env
   * (REDIS_URL, a secretKeyRef, replaced by a sample URL) and the rendered
   * config file, loaded with the broker's own loadConfig.
   */
  function brokerInputOf (scenario: string): { deployment: Deployment, env: Map<string, EnvVar>, config: Config } {
    const manifests = manifestsOf(scenario)
    const deployment = only<Deployment>(manifests, 'Deployment')
    const configMap = only<Manifest & { data: Record<string, string> }>(manifests, 'ConfigMap')
    const configPath = join(configFiles.path, `${scenario}.yaml`)
    writeFileSync(configPath, configMap.data['config.yaml'] ?? '')
    const env = envOf(brokerContainer(deployment))
    const plain: Record<string, string> = {}
    for (const [name, variable] of env) {
      if (variable.value !== undefined) plain[name] = variable.value
    }
    if (env.has('REDIS_URL')) plain.REDIS_URL = 'rediss://:secret@redis.example:6379/0'
    plain.BROKER_CONFIG_FILE = configPath
    return { deployment, env, config: loadConfig(plain) }
  }

  before(async () => {
    // Missing in CI: every test below fails on need(helm) with the install hint.
    if (helm.path === undefined) return
    // Every render and every lint, each run once, in one batch: the tests below share them.
    const runs = scenarios.flatMap((scenario) => KUBE_VERSIONS.map((kubeVersion) => ({ scenario, kubeVersion })))
    const results = await runAll([
      ...runs.map(({ scenario, kubeVersion }) => ({ command: helm.path ?? 'helm', args: templateArgs(['-f', valuesFile(scenario), '--kube-version', kubeVersion]) })),
      ...runs.map(({ scenario, kubeVersion }) => ({ command: helm.path ?? 'helm', args: ['lint', '--strict', CHART_DIR, '-f', valuesFile(scenario), '--kube-version', kubeVersion] }))
    ], { env: helmEnv(home.path) })
    runs.forEach(({ scenario, kubeVersion }, index) => {
      const label = `${scenario}@${kubeVersion}`
      const result = results[index]
      const lint = results[runs.length + index]
      assert.ok(result !== undefined && lint !== undefined)
      assert.equal(result.code, 0, `helm template ${scenario} at ${kubeVersion}:\n${result.stderr}`)
      rendered.set(label, parseManifests(result.stdout))
      linted.set(label, lint)
    })
  })
  after(() => {
    home.remove()
    configFiles.remove()
  })

  await it('finds helm', () => { need(helm) })

  await it('declares the oldest tested Kubernetes as its kubeVersion floor', () => {
    const chart = parseYaml(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as Record<string, unknown>
    assert.equal(chart.apiVersion, 'v2')
    assert.equal(chart.kubeVersion, `>=${KUBE_VERSIONS[0]}-0`)
    assert.equal(chart.dependencies, undefined, 'the chart has no dependencies')
  })

  await it('ships the required ci/ value scenarios', () => {
    for (const scenario of REQUIRED_SCENARIOS) assert.ok(scenarios.includes(scenario), `ci/${scenario}-values.yaml exists`)
  })

  await it('passes helm lint --strict for every scenario at the oldest and newest Kubernetes', () => {
    need(helm)
    assert.equal(linted.size, scenarios.length * KUBE_VERSIONS.length, 'every scenario linted at every version')
    for (const [label, result] of linted) assert.equal(result.code, 0, `helm lint ${label}:\n${result.stdout}${result.stderr}`)
  })

  await it('packages, leaving the ci/ scenarios out', async () => {
    const out = tempDir('helm-package')
    try {
      const result = await run(need(helm), ['package', CHART_DIR, '--destination', out.path], { env: helmEnv(home.path) })
      assert.equal(result.code, 0, result.stderr)
      const listing = await run('tar', ['-tzf', join(out.path, 'qlik-broker-0.1.0.tgz')])
      assert.equal(listing.code, 0, listing.stderr)
      const files = listing.stdout.trim().split('\n')
      assert.ok(files.includes('qlik-broker/values.schema.json'))
      assert.ok(files.includes('qlik-broker/templates/tests/test-readyz.yaml'))
      assert.ok(!files.some((file) => file.startsWith('qlik-broker/ci/')), 'ci/ is for the repository only')
    } finally {
      out.remove()
    }
  })

  await it('refuses a Kubernetes older than its floor', async () => {
    const result = await template(['--kube-version', '1.29.0'])
    assert.notEqual(result.code, 0)
    assert.match(result.stderr, /kubeVersion/)
  })

  await it('renders manifests that satisfy the Kubernetes schemas', () => {
    const problems = allRendered().flatMap(([label, manifests]) => validateWithModels(manifests).map((problem) => `${label}: ${problem}`))
    assert.deepEqual(problems, [])
  })

  await it('renders no unknown fields', () => {
    // Manifests barely differ between Kubernetes versions: check the newest render of each scenario.
    const manifests = scenarios.flatMap((scenario) => manifestsOf(scenario).map((manifest) => ({ source: scenario, manifest })))
    assert.deepEqual(findUnknownFields(manifests), [])
  })

  await it('catches an unknown field and a wrong type (the checks above can fail)', () => {
    const deployment = structuredClone(only<Deployment>(manifestsOf('default'), 'Deployment'))
    Object.assign(deployment.metadata ?? {}, { lables: { a: 'b' } })
    Object.assign(deployment.spec, { replicas: 'two' })
    assert.equal(findUnknownFields([{ source: 'mutated', manifest: deployment }]).length, 2)
    assert.equal(validateWithModels([deployment]).length, 1)
  })

  await it('hardens every pod it renders', () => {
    for (const [label, manifests] of allRendered()) {
      const pods = manifests.flatMap((manifest) => {
        if (manifest.kind === 'Deployment') return [{ name: describeManifest(manifest), spec: (manifest as Deployment).spec.template.spec }]
        if (manifest.kind === 'Pod') return [{ name: describeManifest(manifest), spec: (manifest as unknown as { spec: PodSpec }).spec }]
        return []
      })
      assert.equal(pods.length, 2, `${label}: the Deployment and the helm test pod`)
      for (const { name, spec } of pods) {
        const where = `${label} ${name}`
        assert.equal(spec.automountServiceAccountToken, false, `${where}: automountServiceAccountToken`)
        assert.equal(spec.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`)
        assert.equal(spec.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${where}: seccomp`)
        for (const container of spec.containers) {
          const context = container.securityContext ?? {}
          assert.equal(context.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`)
          assert.equal(context.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`)
          assert.equal(context.privileged, false, `${where}: privileged`)
          assert.deepEqual(context.capabilities?.drop, ['ALL'], `${where}: capabilities`)
          assert.ok(container.resources?.requests?.memory !== undefined && container.resources.limits?.memory !== undefined, `${where}: memory request and limit`)
          assert.doesNotMatch(container.image, /:latest$/, `${where}: no latest tag`)
          assert.match(container.image, /(:[\w.-]+|@sha256:[0-9a-f]{64})$/, `${where}: pinned image`)
        }
      }
      const deployment = only<Deployment>(manifests, 'Deployment')
      const tmp = deployment.spec.template.spec.volumes?.find((volume) => volume.emptyDir !== undefined && brokerContainer(deployment).volumeMounts?.some((mount) => mount.name === volume.name && mount.mountPath === '/tmp'))
      assert.ok(tmp, `${label}: an emptyDir on /tmp next to the read-only root filesystem`)
    }
  })

  await it('probes /livez and /readyz and drains before the kubelet kills the pod', () => {
    for (const [label, manifests] of allRendered()) {
      const deployment = only<Deployment>(manifests, 'Deployment')
      const container = brokerContainer(deployment)
      assert.equal(container.livenessProbe?.httpGet?.path, '/livez', label)
      assert.equal(container.readinessProbe?.httpGet?.path, '/readyz', label)
      assert.equal(container.startupProbe?.httpGet?.path, '/livez', label)
      assert.ok(container.ports?.some((port) => port.name === 'http' && port.containerPort === 8080), label)
      assert.equal(container.lifecycle?.preStop?.exec, undefined, `${label}: distroless has no shell or sleep binary`)
      const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0
      const grace = Number(envOf(container).get('BROKER_SHUTDOWN_GRACE_MS')?.value)
      const termination = deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30
      assert.ok(preStop > 0, `${label}: a preStop sleep`)
      assert.ok(termination * 1000 > preStop * 1000 + grace, `${label}: terminationGracePeriodSeconds ${termination} > preStop ${preStop}s + grace ${grace}ms`)
    }
  })

  await it('spreads replicas over zones and nodes with the pod selector', () => {
    const deployment = only<Deployment>(manifestsOf('default'), 'Deployment')
    const constraints = deployment.spec.template.spec.topologySpreadConstraints ?? []
    assert.deepEqual(constraints.map((constraint) => constraint.topologyKey), ['topology.kubernetes.io/zone', 'kubernetes.io/hostname'])
    for (const constraint of constraints) assert.deepEqual(constraint.labelSelector?.matchLabels, deployment.spec.selector.matchLabels)
  })

  await it('renders no Secret unless devSecret.create, and rolls pods when the config changes', async () => {
    for (const [label, manifests] of allRendered()) assert.ok(!manifests.some((manifest) => manifest.kind === 'Secret'), `${label}: no Secret`)
    const dev = await template(['--set', 'devSecret.create=true', '--set', 'devSecret.redisUrl=redis://:pw@redis:6379/0', '--set', 'devSecret.cacheEncryptionKeys=k1:AAAA'])
    assert.equal(dev.code, 0, dev.stderr)
    const devManifests = parseManifests(dev.stdout)
    assert.ok(devManifests.some((manifest) => manifest.kind === 'Secret'))
    assert.ok(only<Deployment>(devManifests, 'Deployment').spec.template.metadata.annotations?.['checksum/secret'])

    const base = only<Deployment>(manifestsOf('default'), 'Deployment').spec.template.metadata.annotations?.['checksum/config']
    const changed = await template(['--set', 'callers[0].name=someone', '--set', 'callers[0].grants[0].regions=*', '--set', 'callers[0].grants[0].actions[0]=tenants:read'])
    assert.equal(changed.code, 0, changed.stderr)
    const after = only<Deployment>(parseManifests(changed.stdout), 'Deployment').spec.template.metadata.annotations?.['checksum/config']
    assert.ok(base !== undefined && after !== undefined && base !== after, 'checksum/config follows the ConfigMap')
  })

  await it('logs in to Vault in-process with a projected token of its own audience (vault.mode=kubernetes)', () => {
    const deployment = only<Deployment>(manifestsOf('vault-kubernetes'), 'Deployment')
    const container = brokerContainer(deployment)
    const env = envOf(container)
    assert.equal(env.get('SECRETS_SOURCE')?.value, 'vault')
    assert.equal(env.get('VAULT_AUTH_METHOD')?.value, 'kubernetes')
    assert.equal(env.get('VAULT_K8S_ROLE')?.value, 'qlik-broker-prod')
    assert.equal(env.get('VAULT_K8S_MOUNT')?.value, 'kubernetes-prod')
    assert.equal(env.get('VAULT_NAMESPACE')?.value, 'platform/')
    const tokenVolume = deployment.spec.template.spec.volumes?.find((volume) => volume.projected?.sources.some((source) => source.serviceAccountToken !== undefined))
    const token = tokenVolume?.projected?.sources.find((source) => source.serviceAccountToken !== undefined)?.serviceAccountToken
    assert.ok(tokenVolume && token, 'a projected serviceAccountToken volume')
    assert.equal(token.audience, 'vault.platform.example')
    assert.equal(token.expirationSeconds, 900)
    const mount = container.volumeMounts?.find((candidate) => candidate.name === tokenVolume.name)
    assert.ok(mount, 'the token volume is mounted in the broker')
    assert.equal(env.get('VAULT_K8S_TOKEN_PATH')?.value, `${mount.mountPath}/${token.path}`)
    assert.equal(env.get('VAULT_CACERT')?.value?.startsWith(container.volumeMounts?.find((candidate) => candidate.name === 'vault-ca')?.mountPath ?? '?'), true)
    assert.ok(!Object.keys(deployment.spec.template.metadata.annotations ?? {}).some((key) => key.startsWith('vault.hashicorp.com/')), 'no injector annotations')
  })

  await it('has the Vault Agent render <region>.json with a KV v2 template the broker reads (vault.mode=agent)', () => {
    const deployment = only<Deployment>(manifestsOf('vault-agent'), 'Deployment')
    const annotations = deployment.spec.template.metadata.annotations ?? {}
    const env = envOf(brokerContainer(deployment))
    assert.equal(annotations['vault.hashicorp.com/agent-inject'], 'true')
    assert.equal(annotations['vault.hashicorp.com/role'], 'qlik-broker')
    assert.equal(env.get('SECRETS_SOURCE')?.value, 'file')
    assert.equal(env.get('SECRETS_DIR')?.value, '/vault/secrets')
    assert.equal(env.get('SECRETS_CHECK_INTERVAL_SECONDS')?.value, '15', 'the broker re-checks the rendered files')
    assert.ok(![...env.keys()].some((name) => name.startsWith('VAULT_')), 'the broker itself does not talk to Vault')
    // The injector hands the agent the projected token named here.
    const tokenVolume = annotations['vault.hashicorp.com/agent-service-account-token-volume-name']
    assert.ok(deployment.spec.template.spec.volumes?.some((volume) => volume.name === tokenVolume && volume.projected !== undefined))

    const expected: Record<string, string> = { eu: 'secret/data/qlik/regions/eu', us: 'secret/data/qlik/regions/us', de: 'secret/data/qlik/de-override' }
    for (const [region, path] of Object.entries(expected)) {
      assert.equal(annotations[`vault.hashicorp.com/agent-inject-secret-${region}`], path)
      assert.equal(annotations[`vault.hashicorp.com/agent-inject-file-${region}`], `${region}.json`)
      const template = annotations[`vault.hashicorp.com/agent-inject-template-${region}`] ?? ''
      // KV v2: the fields sit under .Data.data (the default template would render .Data, the envelope).
      assert.match(template, new RegExp(`^\\{\\{- with secret "${path}" -\\}\\}.*\\{\\{- end -\\}\\}$`))
      assert.match(template, /\.Data\.data\.client_id/)
      assert.match(template, /\.Data\.data\.client_secret/)
      // Render it the way consul-template would, with awkward characters in the secret.
      const secret = { client_id: `demo-${region}-client`, client_secret: 's"e\\cr}}et' }
      const body = template
        .replace(/^\{\{- with secret "[^"]+" -\}\}/, '')
        .replace(/\{\{- end -\}\}$/, '')
        .replace(/\{\{ \.Data\.data\.(client_id|client_secret) \| toJSON \}\}/g, (_match, field: 'client_id' | 'client_secret') => JSON.stringify(secret[field]))
      assert.deepEqual(JSON.parse(body), secret)
    }
  })

  await it('feeds the broker a configuration it accepts, in every scenario', () => {
    // Besides the broker's settings: what the chart tells Node and glibc (docs/deploy-helm.md, "Memory").
    const known = new Set([...ENV_SETTINGS.map((setting) => setting.env), ...OTEL_EXPORTER_VARIABLES, 'NODE_OPTIONS', 'MALLOC_ARENA_MAX'])
    const otelEndpoint = ENV_SETTINGS.find((setting) => setting.env === 'OTEL_EXPORTER_OTLP_ENDPOINT')?.description ?? ''
    for (const name of OTEL_EXPORTER_VARIABLES) assert.ok(otelEndpoint.includes(name.slice('OTEL_EXPORTER_OTLP'.length)), `the broker's settings name ${name}`)
    for (const scenario of scenarios) {
      const { deployment, env, config } = brokerInputOf(scenario)
      const values = parseYaml(readFileSync(valuesFile(scenario), 'utf8')) as { extraEnv?: Array<{ name: string }> } | null
      const extra = new Set((values?.extraEnv ?? []).map((variable) => variable.name))
      for (const name of env.keys()) {
        if (!extra.has(name)) assert.ok(known.has(name), `${scenario}: ${name} is a broker setting`)
      }
      if (scenario === 'vault-agent') {
        // The file each region is read from is the one the agent renders.
        const annotations = deployment.spec.template.metadata.annotations ?? {}
        for (const region of config.regions) {
          assert.equal(`${config.secrets.dir}/${region.secretPath}.json`, `/vault/secrets/${annotations[`vault.hashicorp.com/agent-inject-file-${region.code}`] ?? '?'}`)
        }
      }
      if (scenario === 'vault-kubernetes') {
        assert.deepEqual(config.regions.map((region) => region.secretPath), ['qlik-broker/eu', 'platform/qlik/us-prod'])
        assert.equal(config.secrets.vault.kvMount, 'kv')
      }
      if (scenario === 'full') assert.deepEqual(config.callers.map((caller) => caller.name), ['tenant-provisioner', 'user-sync', 'auditor'])
      if (scenario === 'jwt-callers') assert.deepEqual(config.issuers.map((issuer) => issuer.name), ['cluster', 'corp-sso', 'ci'])
    }
  })

  await it('sets the Qlik budget, resilience, quota, token and governance settings, by default to the broker\'s own defaults', () => {
    const defaults = envOf(brokerContainer(only<Deployment>(manifestsOf('default'), 'Deployment')))
    for (const name of TUNING_SETTINGS) {
      const fallback = settingDefault(name)
      assert.ok(fallback !== undefined, `${name} has a default in src/config/settings.ts`)
      assert.equal(defaults.get(name)?.value, fallback, `default scenario: ${name}`)
    }
    assert.equal(defaults.get('QLIK_TOKEN_SCOPE'), undefined, 'no scope unless qlik.tokenScope is set')

    const { deployment, env, config } = brokerInputOf('full')
    assert.equal(env.get('AUDIT_STREAM_MAX_LEN')?.value, '1000000', 'large integers render as digits, never 1e+06')
    assert.deepEqual(config.qlik.tier1Limit, { requests: 500, windowMs: 60_000 })
    assert.deepEqual(config.qlik.tier2Limit, { requests: 50, windowMs: 60_000 })
    assert.deepEqual([config.qlik.budgetMaxWaitMs, config.qlik.retryMaxAttempts, config.qlik.breakerFailures, config.qlik.breakerCooldownMs], [2000, 6, 10, 10_000])
    assert.equal(config.qlik.tokenScope, 'admin_classic')
    assert.deepEqual(config.quota.default, { requests: 1200, windowMs: 60_000 })
    assert.deepEqual([config.cache.expiryMarginSeconds, config.cache.refreshWindow, config.cache.mintLeaseMs], [600, { from: 0.5, to: 0.7 }, 3000])
    assert.deepEqual(config.governance, { idempotencyRetentionSeconds: 172_800, auditStreamMaxLen: 1_000_000, configCheckIntervalSeconds: 10, idempotencyMaxKeysPerCaller: 10_000, idempotencyMaxBytesPerCaller: 67_108_864, idempotencyMemoryMaxEntries: 10_000, idempotencyMemoryMaxBytes: 67_108_864, registryCacheSeconds: 2 })
    const auditor = config.callers.find((caller) => caller.name === 'auditor')
    assert.deepEqual(auditor?.quota, { requests: 120, windowMs: 60_000 })
    assert.deepEqual(auditor?.grants[0]?.actions, ['audit:read'])

    // Policy reload: the ConfigMap is mounted as a folder (a subPath mount never sees an update).
    const mount = brokerContainer(deployment).volumeMounts?.find((candidate) => candidate.name === 'config')
    assert.ok(mount && mount.subPath === undefined && env.get('BROKER_CONFIG_FILE')?.value?.startsWith(`${mount.mountPath}/`))
  })

  await it('sizes the V8 heap from the container\'s memory limit and caps what callers can make a replica hold', () => {
    const { deployment, env, config } = brokerInputOf('default')
    assert.equal(brokerContainer(deployment).resources?.limits?.memory, '256Mi', 'the default limit bench/memory.ts measures against')
    // Node resolves the percentage against the cgroup's limit itself, so the heap follows resources.limits.memory (and a VPA).
    assert.equal(env.get('NODE_OPTIONS')?.value, '--max-old-space-size-percentage=25 --max-semi-space-size=3')
    assert.equal(env.get('MALLOC_ARENA_MAX')?.value, '2')
    assert.deepEqual([config.server.maxInFlightRequests, config.server.maxInFlightBodyBytes, config.server.maxConnections, config.server.logBufferBytes], [128, 16_777_216, 4096, 4_194_304], 'the broker reads the caps the chart renders')
    for (const name of ['BROKER_MAX_IN_FLIGHT_REQUESTS', 'BROKER_MAX_IN_FLIGHT_BODY_BYTES', 'BROKER_MAX_CONNECTIONS', 'LOG_BUFFER_MAX_BYTES']) {
      assert.equal(env.get(name)?.value, settingDefault(name), `default scenario: ${name} is the broker's own default`)
    }
    assert.equal(env.get('IDEMPOTENCY_MEMORY_MAX_BYTES'), undefined, 'with Redis, idempotency records are not held in process')

    const full = brokerInputOf('full')
    const nodeOptions = (brokerContainer(full.deployment).env ?? []).filter((variable) => variable.name === 'NODE_OPTIONS')
    assert.deepEqual(nodeOptions.map((variable) => variable.value), ['--max-old-space-size=256'], 'a NODE_OPTIONS in extraEnv replaces the chart\'s, rendered once')
    assert.equal(full.env.get('MALLOC_ARENA_MAX'), undefined, 'mallocArenaMax 0 leaves glibc\'s default')
    assert.deepEqual([full.config.server.maxInFlightRequests, full.config.server.maxInFlightBodyBytes, full.config.server.maxConnections, full.config.server.logBufferBytes], [256, 33_554_432, 0, 8_388_608])
  })

  await it('adds memory.extraNodeOptions to the chart\'s NODE_OPTIONS, and bounds in-process idempotency records without Redis', async () => {
    const dir = tempDir('helm-memory')
    try {
      const file = join(dir.path, 'no-redis.yaml')
      writeFileSync(file, toYaml({ replicaCount: 1, redis: { enabled: false }, memory: { extraNodeOptions: '--enable-source-maps' } }))
      const result = await template(['-f', file])
      assert.equal(result.code, 0, result.stderr)
      const env = envOf(brokerContainer(only<Deployment>(parseManifests(result.stdout), 'Deployment')))
      assert.equal(env.get('NODE_OPTIONS')?.value, '--max-old-space-size-percentage=25 --max-semi-space-size=3 --enable-source-maps')
      assert.equal(env.get('IDEMPOTENCY_MEMORY_MAX_BYTES')?.value, '8388608', 'a share of the heap, not the broker\'s 64 MiB default')
    } finally {
      dir.remove()
    }
  })

  await it('traces to the collector only with tracing.enabled, and lets the spans out through the NetworkPolicy', () => {
    for (const [label, manifests] of allRendered().filter(([label]) => !label.startsWith('full@'))) {
      const env = envOf(brokerContainer(only<Deployment>(manifests, 'Deployment')))
      assert.deepEqual([...env.keys()].filter((name) => name.startsWith('OTEL_')), [], `${label}: tracing is off`)
      const policy = only<NetworkPolicy>(manifests, 'NetworkPolicy')
      assert.ok(!policy.spec.egress.some((rule) => portsOf(rule) === '4318/TCP'), `${label}: no collector egress`)
    }
    const { env, config } = brokerInputOf('full')
    assert.equal(tracingSettings(config.tracing).url, 'http://otel-collector.observability.svc:4318/v1/traces')
    assert.equal(config.tracing.serviceName, 'qlik-broker-prod')
    assert.equal(env.get('OTEL_EXPORTER_OTLP_COMPRESSION')?.value, 'gzip')
    assert.equal(env.get('OTEL_EXPORTER_OTLP_TIMEOUT')?.value, '5000')
    assert.deepEqual(env.get('OTEL_EXPORTER_OTLP_HEADERS')?.valueFrom?.secretKeyRef, { name: 'otel-collector-auth', key: 'headers' }, 'collector credentials from a Secret')
    const values = parseYaml(readFileSync(valuesFile('full'), 'utf8')) as { networkPolicy: { egress: { tracing: { to: unknown[] } } } }
    const collector = only<NetworkPolicy>(manifestsOf('full'), 'NetworkPolicy').spec.egress.find((rule) => portsOf(rule) === '4318/TCP')
    assert.deepEqual(collector?.to, values.networkPolicy.egress.tracing.to)
  })

  await it('verifies Kubernetes service-account JWTs against the cluster\'s JWKS (jwt-callers scenario)', () => {
    const manifests = manifestsOf('jwt-callers')
    const { deployment, config } = brokerInputOf('jwt-callers')
    const pod = deployment.spec.template.spec
    assert.equal(pod.automountServiceAccountToken, false, 'the ServiceAccount token is still not automounted')

    // A projected API token and the cluster CA where the issuer's files point.
    const volume = pod.volumes?.find((candidate) => candidate.name === 'kubernetes-api-token')
    const token = volume?.projected?.sources.find((source) => source.serviceAccountToken !== undefined)?.serviceAccountToken
    const ca = volume?.projected?.sources.find((source) => source.configMap !== undefined)?.configMap
    assert.ok(volume && token && ca, 'a projected volume with a token and the CA')
    assert.equal(token.audience, undefined, 'the API server\'s own audience')
    assert.equal(token.expirationSeconds, 3600)
    assert.equal(ca.name, 'kube-root-ca.crt')
    const mount = brokerContainer(deployment).volumeMounts?.find((candidate) => candidate.name === volume.name)
    assert.ok(mount?.readOnly)
    const cluster = config.issuers.find((issuer) => issuer.name === 'cluster')
    assert.equal(cluster?.jwksTokenFile, `${mount.mountPath}/${token.path}`)
    assert.equal(cluster.jwksCaFile, `${mount.mountPath}/${ca.items?.find((item) => item.key === 'ca.crt')?.path ?? '?'}`)
    assert.equal(cluster.jwksUrl, 'https://kubernetes.default.svc/openid/v1/jwks')
    assert.deepEqual(cluster.audiences, ['qlik-broker'])

    // RBAC: the issuer discovery role, bound to the broker's ServiceAccount.
    const binding = only<ClusterRoleBinding>(manifests, 'ClusterRoleBinding')
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:service-account-issuer-discovery' })
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: pod.serviceAccountName, namespace: NAMESPACE }])
    assert.equal(only<Manifest>(manifests, 'ServiceAccount').metadata?.name, pod.serviceAccountName)
    assert.ok(binding.metadata?.name?.startsWith(`${NAMESPACE}-`), 'cluster-scoped: the name carries the namespace')

    // Egress to the API server, to the configured addresses only.
    const apiServer = only<NetworkPolicy>(manifests, 'NetworkPolicy').spec.egress.find((rule) => portsOf(rule) === '443/TCP,6443/TCP')
    assert.deepEqual(apiServer?.to, [{ ipBlock: { cidr: '10.96.0.1/32' } }, { ipBlock: { cidr: '172.18.0.2/32' } }])

    // Callers by subject and by claims, with quotas, a created-tenants scope and audit:read.
    const callers = new Map(config.callers.map((caller) => [caller.name, caller]))
    assert.deepEqual(callers.get('billing')?.subjects, ['cluster:system:serviceaccount:billing:billing-api', 'cluster:system:serviceaccount:billing:billing-batch'])
    assert.deepEqual(callers.get('billing')?.quota, { requests: 1200, windowMs: 60_000 })
    assert.deepEqual(callers.get('reporting')?.claims, [{ issuer: 'cluster', match: { 'kubernetes.io.namespace': 'reporting' } }])
    assert.deepEqual(callers.get('support-portal')?.claims?.map((rule) => rule.issuer), ['corp-sso', 'ci'])
    assert.ok(callers.get('support-portal')?.grants[0]?.actions.includes('audit:read'))
    assert.equal(callers.get('tenant-provisioner')?.grants[0]?.tenants, 'created')
    assert.deepEqual(config.quota.default, { requests: 300, windowMs: 60_000 })

    // None of it unless asked for.
    const defaults = manifestsOf('default')
    assert.ok(!defaults.some((manifest) => manifest.kind === 'ClusterRoleBinding'))
    assert.ok(!(only<Deployment>(defaults, 'Deployment').spec.template.spec.volumes ?? []).some((candidate) => candidate.name === 'kubernetes-api-token'))
    assert.ok(!only<NetworkPolicy>(defaults, 'NetworkPolicy').spec.egress.some((rule) => portsOf(rule).includes('6443')))
    assert.deepEqual(brokerInputOf('default').config.issuers, [])
  })

  await it('reads Redis and the cache keys from Secrets it does not render', () => {
    const deployment = only<Deployment>(manifestsOf('existing-secret'), 'Deployment')
    const container = brokerContainer(deployment)
    const env = envOf(container)
    assert.deepEqual(env.get('REDIS_URL')?.valueFrom?.secretKeyRef, { name: 'platform-redis', key: 'url' })
    const keysVolume = deployment.spec.template.spec.volumes?.find((volume) => volume.secret?.secretName === 'qlik-broker-cache-keys')
    assert.deepEqual(keysVolume?.secret?.items, [{ key: 'keys', path: 'keys' }])
    const mount = container.volumeMounts?.find((candidate) => candidate.name === keysVolume?.name)
    assert.equal(env.get('CACHE_ENCRYPTION_KEYS_FILE')?.value, `${mount?.mountPath ?? '?'}/keys`)
    assert.match(container.image, /@sha256:[0-9a-f]{64}$/)
  })

  await it('connects to Redis Sentinel and Redis Cluster from values, with passwords and the TLS CA from Secrets it does not render', () => {
    const sentinel = brokerInputOf('redis-sentinel')
    const env = sentinel.env
    assert.equal(env.has('REDIS_URL'), false, 'no URL with Sentinel')
    assert.equal(env.get('REDIS_SENTINELS')?.value, 'redis-node-0.redis-headless.data.svc:26379,redis-node-1.redis-headless.data.svc:26379,redis-node-2.redis-headless.data.svc:26379')
    assert.equal(env.get('REDIS_SENTINEL_MASTER_NAME')?.value, 'mymaster')
    assert.deepEqual(env.get('REDIS_PASSWORD')?.valueFrom?.secretKeyRef, { name: 'redis', key: 'redis-password' })
    assert.deepEqual(env.get('REDIS_SENTINEL_PASSWORD')?.valueFrom?.secretKeyRef, { name: 'redis', key: 'redis-password' })
    assert.equal(env.get('REDIS_TLS')?.value, 'true')
    const container = brokerContainer(sentinel.deployment)
    const caVolume = sentinel.deployment.spec.template.spec.volumes?.find((volume) => volume.secret?.secretName === 'redis-tls')
    assert.deepEqual(caVolume?.secret?.items, [{ key: 'ca.crt', path: 'ca.crt' }])
    const caMount = container.volumeMounts?.find((mount) => mount.name === caVolume?.name)
    assert.equal(env.get('REDIS_TLS_CA_FILE')?.value, `${caMount?.mountPath ?? '?'}/ca.crt`)
    assert.equal(sentinel.config.cache.redisSentinelMasterName, 'mymaster')

    const cluster = brokerInputOf('redis-cluster')
    assert.equal(cluster.env.has('REDIS_URL'), false, 'no URL with Cluster')
    assert.equal(cluster.env.get('REDIS_CLUSTER_NODES')?.value, 'redis-cluster-0.redis-cluster-headless.data.svc:6379,redis-cluster-1.redis-cluster-headless.data.svc:6379,redis-cluster-2.redis-cluster-headless.data.svc:6379')
    assert.equal(cluster.env.get('REDIS_USERNAME')?.value, 'qlik-broker')
    assert.deepEqual(cluster.env.get('REDIS_PASSWORD')?.valueFrom?.secretKeyRef, { name: 'redis-cluster', key: 'redis-password' })
    assert.equal(cluster.config.cache.redisClusterNodes?.nodes.length, 3)
  })

  await it('wires the HPA, PDB, ServiceMonitor and NetworkPolicy to the pods (full scenario)', () => {
    const manifests = manifestsOf('full')
    const deployment = only<Deployment>(manifests, 'Deployment')
    const podLabels = deployment.spec.template.metadata.labels
    const selects = (selector: Record<string, string> | undefined): boolean => selector !== undefined && Object.entries(selector).every(([key, value]) => podLabels[key] === value)
    assert.equal(deployment.spec.replicas, undefined, 'the HPA owns the replica count')

    const hpa = only<Manifest & { spec: { scaleTargetRef: { kind: string, name: string }, minReplicas: number, maxReplicas: number } }>(manifests, 'HorizontalPodAutoscaler')
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata?.name })
    const pdb = only<Manifest & { spec: { minAvailable?: number, selector: { matchLabels: Record<string, string> } } }>(manifests, 'PodDisruptionBudget')
    assert.ok(selects(pdb.spec.selector.matchLabels))
    assert.ok((pdb.spec.minAvailable ?? 0) < hpa.spec.minReplicas, 'the PDB leaves room to drain a node')

    const service = only<Manifest & { spec: { selector: Record<string, string>, ports: Array<{ name: string }> } }>(manifests, 'Service')
    assert.ok(selects(service.spec.selector))
    const monitor = only<Manifest & { spec: { selector: { matchLabels: Record<string, string> }, endpoints: Array<{ port: string, path: string }> } }>(manifests, 'ServiceMonitor')
    assert.deepEqual(monitor.spec.endpoints.map((endpoint) => [endpoint.port, endpoint.path]), [['http', '/metrics']])
    assert.ok(Object.entries(monitor.spec.selector.matchLabels).every(([key, value]) => service.metadata?.labels?.[key] === value))
    assert.ok(service.spec.ports.some((port) => port.name === 'http'))
    assert.equal(monitor.metadata?.labels?.release, 'kube-prometheus-stack')

    const policy = only<NetworkPolicy>(manifests, 'NetworkPolicy')
    assert.ok(selects(policy.spec.podSelector.matchLabels))
    assert.deepEqual(policy.spec.policyTypes, ['Ingress', 'Egress'])
    assert.deepEqual(policy.spec.ingress[0]?.from?.[0], { namespaceSelector: { matchLabels: { 'qlik-broker.io/client': 'true', environment: 'prod' } } })
    assert.deepEqual(policy.spec.egress.map(portsOf), ['53/UDP,53/TCP', '6379/TCP', '8200/TCP', '3128/TCP', '4318/TCP', '8443/TCP'])
    for (const rule of policy.spec.egress.slice(1)) assert.ok((rule.to ?? []).length > 0, 'narrowed peers in the full scenario')

    // Default: Qlik on 443 to public addresses only.
    const defaults = only<NetworkPolicy>(manifestsOf('default'), 'NetworkPolicy')
    const qlik = defaults.spec.egress.find((rule) => rule.ports?.some((port) => port.port === 443))
    assert.deepEqual(qlik?.to, [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16'] } }])
  })

  await it('has a helm test hook that GETs /readyz and that the Service does not select', () => {
    const manifests = manifestsOf('default')
    const pod = only<Manifest & { spec: PodSpec }>(manifests, 'Pod')
    assert.equal(pod.metadata?.annotations?.['helm.sh/hook'], 'test')
    const args = (pod.spec.containers[0]?.args ?? []).join(' ')
    assert.match(args, new RegExp(`fetch\\('http://${RELEASE}-qlik-broker:8080/readyz'\\)`))
    const service = only<Manifest & { spec: { selector: Record<string, string> } }>(manifests, 'Service')
    assert.ok(!Object.entries(service.spec.selector).every(([key, value]) => pod.metadata?.labels?.[key] === value), 'the test pod is not a Service endpoint')
    assert.equal(pod.metadata?.labels?.[`${RELEASE}-qlik-broker-client`], 'true', 'the NetworkPolicy lets the test pod in')
  })

  await it('refuses bad values', async () => {
    const readAll = { regions: '*', actions: ['tenants:read'] }
    const clusterIssuer = {
      name: 'cluster',
      issuer: 'https://kubernetes.default.svc.cluster.local',
      audiences: ['qlik-broker'],
      jwksUrl: 'https://kubernetes.default.svc/openid/v1/jwks',
      jwksCaFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
      jwksTokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token'
    }
    const apiServerEgress = { egress: { kubernetesApi: { cidrs: ['10.96.0.1/32'] } } }
    const cases: Array<{ name: string, values: Record<string, unknown>, error: RegExp }> = [
      { name: 'replicaCount as a string', values: { replicaCount: 'two' }, error: /replicaCount.*want integer/ },
      { name: 'an unknown top-level key', values: { replicas: 2 }, error: /additional properties 'replicas' not allowed/ },
      { name: 'an unknown nested key', values: { vault: { mode: 'kubernetes', adress: 'https://vault:8200' } }, error: /additional properties 'adress' not allowed/ },
      { name: 'an unknown Vault mode', values: { vault: { mode: 'bogus' } }, error: /vault\/mode.*one of/ },
      { name: 'the latest tag', values: { image: { repository: 'qlik-broker', tag: 'latest' } }, error: /image\/tag/ },
      { name: 'an API key instead of its hash', values: { callers: [{ name: 'svc', apiKeyHashes: ['qbk_plain-key'], grants: [{ regions: '*', actions: ['tenants:read'] }] }] }, error: /apiKeyHashes/ },
      { name: 'an unknown tenant action', values: { callers: [{ name: 'svc', grants: [{ regions: '*', actions: ['tenants:delete'] }] }] }, error: /actions/ },
      { name: 'a bad region code', values: { regions: [{ code: 'EU' }] }, error: /regions\/0\/code/ },
      { name: 'several replicas without Redis', values: { redis: { enabled: false } }, error: /redis\.enabled=false/ },
      { name: 'a grace period shorter than the drain', values: { terminationGracePeriodSeconds: 12 }, error: /terminationGracePeriodSeconds \(12\) must exceed/ },
      { name: 'agent mode without regions', values: { vault: { mode: 'agent' } }, error: /vault\.mode=agent.*regions/ },
      { name: 'a dev Secret without values', values: { devSecret: { create: true } }, error: /devSecret/ },
      { name: 'Sentinel without a master name', values: { redis: { mode: 'sentinel', sentinel: { nodes: ['s0:26379'] } } }, error: /redis\.mode=sentinel needs .*masterName/ },
      { name: 'Cluster without nodes', values: { redis: { mode: 'cluster' } }, error: /redis\.mode=cluster needs redis\.cluster\.nodes/ },
      { name: 'a Redis node that is not host:port', values: { redis: { mode: 'cluster', cluster: { nodes: ['redis://r0'] } } }, error: /redis\/cluster\/nodes\/0/ },
      { name: 'an unknown Redis mode', values: { redis: { mode: 'replicated' } }, error: /redis\/mode.*one of/ },
      { name: 'a Redis CA without TLS', values: { redis: { tls: { caSecret: 'redis-tls' } } }, error: /redis\.tls\.caSecret is set but redis\.tls\.enabled is false/ },
      // Callers, quotas and the broker's tuning.
      { name: 'a caller quota that is not requests/window', values: { callers: [{ name: 'svc', quota: '100 per minute', grants: [readAll] }] }, error: /callers\/0\/quota/ },
      { name: 'a tenant scope that does not exist', values: { callers: [{ name: 'svc', grants: [{ ...readAll, tenants: 'sometimes' }] }] }, error: /callers\/0\/grants\/0\/tenants/ },
      { name: 'an unknown broker action', values: { callers: [{ name: 'svc', grants: [{ regions: '*', actions: ['audit:write'] }] }] }, error: /grants\/0\/actions\/0': value must be one of .*'audit:read'/ },
      { name: 'a claims rule matching nothing', values: { issuers: [clusterIssuer], kubernetesApiToken: { enabled: true }, networkPolicy: apiServerEgress, callers: [{ name: 'svc', claims: { issuer: 'cluster', match: {} }, grants: [readAll] }] }, error: /callers\/0\/claims\/match': minProperties/ },
      { name: 'a default quota of 0 requests', values: { callerQuota: '0/60s' }, error: /callerQuota/ },
      { name: 'too many retries', values: { qlik: { retryMaxAttempts: 50 } }, error: /qlik\/retryMaxAttempts/ },
      { name: 'a heap share of 0 %', values: { memory: { maxOldSpacePercentage: 0 } }, error: /memory\/maxOldSpacePercentage/ },
      { name: 'a heap share over 100 %', values: { memory: { maxOldSpacePercentage: 150 } }, error: /memory\/maxOldSpacePercentage/ },
      { name: 'no request in flight at all', values: { memory: { maxInFlightRequests: 0 } }, error: /memory\/maxInFlightRequests/ },
      { name: 'a refresh window that ends before it starts', values: { tokens: { refreshWindow: '0.8-0.6' } }, error: /tokens\.refreshWindow \(0\.8-0\.6\)/ },
      // JWT issuers.
      { name: 'an issuer without audiences', values: { issuers: [{ name: 'sso', issuer: 'https://login.example.com', discovery: true }] }, error: /issuers\/0.*audiences/ },
      { name: 'an issuer with two key sources', values: { issuers: [{ ...clusterIssuer, discovery: true }], kubernetesApiToken: { enabled: true }, networkPolicy: apiServerEgress }, error: /issuers\/0': 'oneOf' failed/ },
      { name: 'the "none" algorithm', values: { issuers: [{ name: 'sso', issuer: 'https://login.example.com', audiences: ['qlik-broker'], discovery: true, algorithms: ['none'] }] }, error: /issuers\/0\/algorithms\/0/ },
      { name: 'a private key in a ConfigMap', values: { issuers: [{ name: 'ci', issuer: 'https://ci.example.com', audiences: ['qlik-broker'], staticKeys: [{ pem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }] }] }, error: /staticKeys\/0\/pem/ },
      { name: 'a JWKS URL over plain http', values: { issuers: [{ ...clusterIssuer, jwksUrl: 'http://kubernetes.default.svc/openid/v1/jwks' }] }, error: /issuers\/0\/jwksUrl/ },
      { name: 'a subject of an issuer that is not configured', values: { callers: [{ name: 'svc', subjects: ['cluster:system:serviceaccount:billing:api'], grants: [readAll] }] }, error: /"svc" has subject .* no entry of issuers is named "cluster"/ },
      { name: 'the service-account files without the projected token', values: { issuers: [clusterIssuer], networkPolicy: apiServerEgress }, error: /"cluster" reads jwksTokenFile .*kubernetesApiToken\.enabled=true/ },
      { name: 'JWKS from the API server without its addresses in the NetworkPolicy', values: { issuers: [clusterIssuer], kubernetesApiToken: { enabled: true } }, error: /networkPolicy\.egress\.kubernetesApi\.cidrs: issuer\(s\) cluster/ },
      { name: 'keys by discovery from the API server without its addresses', values: { issuers: [{ name: 'cluster', issuer: 'https://kubernetes.default.svc.cluster.local', audiences: ['qlik-broker'], discovery: true }] }, error: /networkPolicy\.egress\.kubernetesApi\.cidrs: issuer\(s\) cluster/ },
      { name: 'the projected API token next to the automounted one', values: { kubernetesApiToken: { enabled: true }, automountServiceAccountToken: true }, error: /keep automountServiceAccountToken=false/ },
      { name: 'a projected token shorter than Kubernetes allows', values: { kubernetesApiToken: { enabled: true, expirationSeconds: 60 } }, error: /kubernetesApiToken\/expirationSeconds/ },
      // Tracing.
      { name: 'tracing without a collector', values: { tracing: { enabled: true } }, error: /tracing\.enabled=true needs tracing\.endpoint/ },
      { name: 'an unknown export compression', values: { tracing: { enabled: true, endpoint: 'http://otel:4318', compression: 'brotli' } }, error: /tracing\/compression/ }
    ]
    const dir = tempDir('helm-negative')
    try {
      const results = await runAll(cases.map((testCase, index) => {
        const file = join(dir.path, `case-${index}.yaml`)
        writeFileSync(file, toYaml(testCase.values))
        return { command: need(helm), args: templateArgs(['-f', file]) }
      }), { env: helmEnv(home.path) })
      assert.equal(results.length, cases.length)
      for (const [index, testCase] of cases.entries()) {
        const result = results[index] ?? { code: 0, stdout: '', stderr: 'no result' }
        assert.notEqual(result.code, 0, `${testCase.name} is refused`)
        assert.match(result.stderr, testCase.error, `${testCase.name}: ${result.stderr}`)
      }
    } finally {
      dir.remove()
    }
  })
})

await describe('helm chart values.schema.json and README', async () => {
  await it('is a valid draft-07 schema that accepts values.yaml and every ci/ scenario', () => {
    const schema = chartSchema()
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#')
    assert.equal(schema.additionalProperties, false)
    const validate = compileValuesSchema()
    const defaults = chartDefaults()
    assert.ok(validate(defaults), JSON.stringify(validate.errors))
    for (const scenario of scenarios) {
      const values = mergeValues(defaults, parseYaml(readFileSync(valuesFile(scenario), 'utf8')) ?? {})
      assert.ok(validate(values), `${scenario}: ${JSON.stringify(validate.errors)}`)
    }
  })

  await it('has a README parameters table generated from the ## @param comments', async () => {
    const dir = tempDir('readme')
    try {
      const readme = join(dir.path, 'README.md')
      copyFileSync(join(CHART_DIR, 'README.md'), readme)
      const generator = join(REPO_ROOT, 'node_modules', '@bitnami', 'readme-generator-for-helm', 'bin', 'index.js')
      const result = await run(process.execPath, [generator, '--values', join(CHART_DIR, 'values.yaml'), '--readme', readme])
      assert.equal(result.code, 0, `every value needs a ## @param line:\n${result.stdout}${result.stderr}`)
      assert.equal(readFileSync(readme, 'utf8'), readFileSync(join(CHART_DIR, 'README.md'), 'utf8'),
        'helm/qlik-broker/README.md is stale: npx readme-generator --values helm/qlik-broker/values.yaml --readme helm/qlik-broker/README.md')
    } finally {
      dir.remove()
    }
  })
})
