import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parse as parseYaml } from 'yaml'
import { loadConfig } from '../../src/config/load-config.js'
import { ENV_SETTINGS } from '../../src/config/settings.js'
import { findTool, need, REPO_ROOT, run, tempDir } from './tools.js'

interface Healthcheck { test: string[] | string }
interface Service {
  image?: string
  build?: unknown
  command?: string[]
  entrypoint?: string[]
  init?: boolean
  read_only?: boolean
  cap_drop?: string[]
  security_opt?: string[]
  ports?: Array<string | { host_ip?: string, published?: number | string }>
  environment?: Record<string, string>
  volumes?: string[]
  healthcheck?: Healthcheck
  depends_on?: Record<string, { condition: string }>
}
interface ComposeFile { version?: unknown, name?: unknown, services: Record<string, Service>, volumes?: Record<string, unknown> }

const COMPOSE_FILE = join(REPO_ROOT, 'docker-compose.yml')
const SEED_SCRIPT = join(REPO_ROOT, 'deploy', 'vault-seed.sh')
const compose = findTool('docker-compose')
const shellcheck = findTool('shellcheck')

/** A clean environment: the defaults in the file, not the developer's shell, are under test. */
function composeEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME }
  return env
}

/** Compose's `${VAR:-default}` with nothing set: what a fresh checkout runs with. */
function withDefaults (text: string): string {
  return text.replace(/\$\{(\w+):-([^}]*)\}/g, (_match, _name: string, fallback: string) => fallback)
}

await describe('docker-compose.yml', async () => {
  const raw = parseYaml(withDefaults(readFileSync(COMPOSE_FILE, 'utf8'))) as ComposeFile
  const services = raw.services

  await describe('validated by docker-compose 1.29 (no engine needed)', { skip: compose.skip }, async () => {
    let normalized: ComposeFile

    before(async () => {
      if (compose.path === undefined) return
      const result = await run(need(compose), ['-f', COMPOSE_FILE, 'config'], { env: composeEnv() })
      assert.equal(result.code, 0, result.stderr)
      normalized = parseYaml(result.stdout) as ComposeFile
    })

    await it('finds docker-compose', () => { need(compose) })

    await it('passes docker-compose config -q', async () => {
      const result = await run(need(compose), ['-f', COMPOSE_FILE, 'config', '-q'], { env: composeEnv() })
      assert.equal(result.code, 0, result.stderr)
      assert.equal(result.stderr, '')
    })

    await it('resolves the broker environment from the defaults', () => {
      need(compose)
      const broker = normalized.services.broker
      assert.ok(broker?.environment)
      assert.match(broker.environment.REDIS_URL ?? '', /^redis:\/\/:[^@]+@redis:6379\/0$/)
      assert.equal(broker.environment.VAULT_ROLE_ID, normalized.services['vault-seed']?.environment?.BROKER_ROLE_ID)
    })
  })

  await it('keeps to the format docker-compose 1.29 accepts (no top-level name)', () => {
    assert.equal(raw.name, undefined)
    assert.deepEqual(Object.keys(raw).sort(), ['services', 'volumes'])
  })

  await it('runs the broker, Redis, a Vault dev server with a seeding job and the simulator', () => {
    assert.deepEqual(Object.keys(services).sort(), ['broker', 'redis', 'simulator', 'vault', 'vault-seed'])
  })

  await it('pins every image', () => {
    for (const [name, service] of Object.entries(services)) {
      assert.ok(service.image, `${name} names its image`)
      if (service.build !== undefined) {
        assert.ok(['qlik-broker:local', 'qlik-cloud-simulator:local'].includes(service.image), `${name}: a locally built image (${service.image})`)
        continue
      }
      const [, tag] = service.image.split(':')
      assert.ok(tag !== undefined && tag !== 'latest', `${name}: ${service.image} has a fixed tag`)
      assert.match(tag, /^\d+\.\d+\.\d+/, `${name}: ${service.image} pins a full version`)
    }
  })

  await it('builds the broker and the simulator each from its own Dockerfile target, each started by its image CMD', () => {
    const dockerfileStages = [...readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((match) => match[1])
    assert.deepEqual(services.broker?.build, { context: '.', target: 'runtime' })
    assert.deepEqual(services.simulator?.build, { context: '.', target: 'simulator' })
    for (const target of ['runtime', 'simulator']) assert.ok(dockerfileStages.includes(target), `the Dockerfile has a ${target} stage`)
    assert.notEqual(services.simulator?.image, services.broker?.image, 'the broker image holds no simulator, so the simulator has an image of its own')
    assert.equal(services.broker?.command, undefined, 'the image CMD starts the broker')
    assert.equal(services.simulator?.command, undefined, 'the simulator image CMD starts the simulator')
  })

  await it('gives every long-running service a healthcheck, exec form where the image has no shell', () => {
    for (const name of ['broker', 'simulator', 'redis', 'vault']) {
      const test = services[name]?.healthcheck?.test
      assert.ok(Array.isArray(test) && test.length > 1, `${name} has a healthcheck`)
    }
    for (const name of ['broker', 'simulator']) {
      const test = services[name]?.healthcheck?.test as string[]
      assert.equal(test[0], 'CMD', `${name}: distroless has no shell, so no CMD-SHELL`)
      assert.equal(test[1], '/nodejs/bin/node')
    }
    assert.match((services.broker?.healthcheck?.test as string[]).join(' '), /\/readyz/)
  })

  await it('starts in order: Vault, its seeding, Redis and the simulator, then the broker', () => {
    assert.deepEqual(services.broker?.depends_on, {
      redis: { condition: 'service_healthy' },
      'vault-seed': { condition: 'service_completed_successfully' },
      simulator: { condition: 'service_healthy' }
    })
    assert.deepEqual(services['vault-seed']?.depends_on, { vault: { condition: 'service_healthy' } })
    // A topological order exists (no cycle) and puts every dependency first.
    const order: string[] = []
    const visit = (name: string, path: string[]): void => {
      assert.ok(!path.includes(name), `dependency cycle: ${[...path, name].join(' -> ')}`)
      if (order.includes(name)) return
      for (const dependency of Object.keys(services[name]?.depends_on ?? {})) visit(dependency, [...path, name])
      order.push(name)
    }
    for (const name of Object.keys(services)) visit(name, [])
    assert.equal(order.at(-1), 'broker')
    assert.ok(order.indexOf('vault') < order.indexOf('vault-seed'))
  })

  await it('hardens the broker and the simulator like production', () => {
    for (const name of ['broker', 'simulator']) {
      const service = services[name]
      assert.equal(service?.init, true, `${name}: init`)
      assert.equal(service?.read_only, true, `${name}: read_only`)
      assert.deepEqual(service?.cap_drop, ['ALL'], `${name}: cap_drop`)
      assert.deepEqual(service?.security_opt, ['no-new-privileges:true'], `${name}: no-new-privileges`)
    }
    for (const [name, service] of Object.entries(services)) {
      for (const port of service.ports ?? []) assert.match(String(port), /^127\.0\.0\.1:/, `${name}: ports bind to loopback only`)
    }
  })

  await it('wires the broker to Vault AppRole, Redis with its password, the cache key and the simulator', () => {
    const env = services.broker?.environment ?? {}
    const seed = services['vault-seed']?.environment ?? {}
    const known = new Set(ENV_SETTINGS.map((setting) => setting.env))
    for (const name of Object.keys(env)) assert.ok(known.has(name), `${name} is a broker setting`)
    assert.equal(env.SECRETS_SOURCE, 'vault')
    assert.equal(env.VAULT_AUTH_METHOD, 'approle')
    assert.equal(env.VAULT_ROLE_ID, seed.BROKER_ROLE_ID)
    assert.equal(env.VAULT_KV_MOUNT, 'secret')
    assert.equal(env.VAULT_SECRET_PATH_TEMPLATE, 'qlik/regions/{region}')
    // The files the seeding job writes are the files the broker reads.
    const seedVolume = services['vault-seed']?.volumes?.find((volume) => volume.endsWith(`:${seed.OUTPUT_DIR ?? '?'}`))?.split(':')[0]
    const brokerMount = services.broker?.volumes?.find((volume) => volume.startsWith(`${seedVolume ?? '?'}:`))?.split(':')[1]
    assert.ok(seedVolume && brokerMount, 'a volume shared by vault-seed and the broker')
    assert.equal(env.VAULT_SECRET_ID_FILE, `${brokerMount}/vault-secret-id`)
    assert.equal(env.CACHE_ENCRYPTION_KEYS_FILE, `${brokerMount}/cache-encryption-keys`)
    assert.ok(raw.volumes !== undefined && seedVolume in raw.volumes, 'a named volume')
    // Redis password: the same default on both sides.
    const password = /^redis:\/\/:(.+)@redis:6379\/0$/.exec(env.REDIS_URL ?? '')?.[1]
    assert.ok(password !== undefined && services.redis?.command?.includes(password))
    assert.equal(env.QLIK_UPSTREAM_ORIGIN, `http://simulator:${services.simulator?.environment?.SIM_PORT ?? '?'}`)
    assert.equal(services.simulator?.environment?.SIM_HOST, '0.0.0.0')
    assert.match(seed.SEED_REGIONS ?? '', /^eu us$/)
  })

  await it('mounts a sample config the broker accepts, with the documented demo keys', () => {
    const env = { ...(services.broker?.environment ?? {}) }
    const mount = services.broker?.volumes?.find((volume) => volume.includes(`:${env.BROKER_CONFIG_FILE ?? '?'}:`))
    assert.ok(mount, 'the config file is mounted')
    const hostPath = join(REPO_ROOT, mount.split(':')[0] ?? '')
    const config = loadConfig({ ...env, BROKER_CONFIG_FILE: hostPath, REDIS_URL: 'redis://:pw@redis:6379/0' })
    assert.deepEqual(config.regions.map((region) => [region.code, region.secretPath]), [['eu', 'qlik/regions/eu'], ['us', 'qlik/regions/us']])
    const docs = readFileSync(join(REPO_ROOT, 'docs', 'deploy-compose.md'), 'utf8')
    const keys = [...docs.matchAll(/qbk_[A-Za-z0-9_-]{43}/g)].map((match) => match[0])
    const hashes = config.callers.flatMap((caller) => caller.apiKeyHashes)
    assert.equal(hashes.length, 2)
    assert.deepEqual([...new Set(keys)].map((key) => `sha256:${createHash('sha256').update(key).digest('hex')}`).sort(), [...hashes].sort())
  })
})

await describe('deploy/vault-seed.sh', async () => {
  await it('passes shellcheck (and so does scripts/install-deploy-tools.sh)', { skip: shellcheck.skip }, async () => {
    const result = await run(need(shellcheck), [SEED_SCRIPT, join(REPO_ROOT, 'scripts', 'install-deploy-tools.sh')])
    assert.equal(result.code, 0, result.stdout + result.stderr)
  })

  await describe('against a recording fake of the vault CLI', async () => {
    const dir = tempDir('vault-seed')
    const bin = join(dir.path, 'bin')
    const out = join(dir.path, 'out')
    const log = join(dir.path, 'calls.log')
    const policy = join(dir.path, 'policy.hcl')

    before(() => {
      mkdirSync(bin)
      // Answers like the real CLI where the script reads the output; records every call.
      writeFileSync(join(bin, 'vault'), `#!/bin/sh
echo "$*" >> "${log}"
case "$*" in
  "secrets list") if [ -n "$FAKE_KV_MOUNTED" ]; then echo "secret/ kv kv_1234 key/value secret storage"; fi; echo "sys/ system" ;;
  "auth list") echo "token/ token auth_token_1" ;;
  "policy write"*) cat > "${policy}" ;;
  "write -f -field=secret_id"*) echo "fake-secret-id-$$" ;;
esac
exit 0
`)
      chmodSync(join(bin, 'vault'), 0o755)
    })
    after(() => dir.remove())

    async function seed (extra: Record<string, string> = {}): Promise<{ code: number, stdout: string, stderr: string, calls: string[] }> {
      writeFileSync(log, '')
      const result = await run('sh', [SEED_SCRIPT], {
        env: { PATH: `${bin}:${process.env.PATH ?? ''}`, VAULT_ADDR: 'http://vault:8200', VAULT_TOKEN: 'root', SEED_REGIONS: 'eu us', BROKER_ROLE_ID: 'role-under-test', OUTPUT_DIR: out, ...extra }
      })
      return { ...result, calls: readFileSync(log, 'utf8').trim().split('\n') }
    }

    await it('seeds KV v2, the policy, the AppRole and the broker files', async () => {
      const { code, stderr, calls } = await seed()
      assert.equal(code, 0, stderr)
      assert.ok(calls.includes('secrets enable -path=secret -version=2 kv'), 'enables KV v2 when secret/ is missing')
      assert.ok(calls.includes('kv put -mount=secret qlik/regions/eu client_id=demo-eu-client client_secret=demo-eu-secret'))
      assert.ok(calls.includes('kv put -mount=secret qlik/regions/us client_id=demo-us-client client_secret=demo-us-secret'))
      assert.ok(calls.includes('auth enable approle'))
      assert.ok(calls.includes('write auth/approle/role/qlik-broker token_policies=qlik-broker token_ttl=1h token_max_ttl=4h secret_id_ttl=0'))
      assert.ok(calls.includes('write auth/approle/role/qlik-broker/role-id role_id=role-under-test'))
      const hcl = readFileSync(policy, 'utf8')
      assert.match(hcl, /path "secret\/data\/qlik\/regions\/\*" \{\s*capabilities = \["read"\]\s*\}/)
      assert.match(hcl, /path "secret\/metadata\/qlik\/regions\/\*" \{\s*capabilities = \["read"\]\s*\}/)
      assert.equal((hcl.match(/^path /gm) ?? []).length, 2, 'the policy grants nothing else')

      const secretIdFile = join(out, 'vault-secret-id')
      assert.match(readFileSync(secretIdFile, 'utf8'), /^fake-secret-id-\d+\n$/)
      assert.equal(statSync(secretIdFile).mode & 0o777, 0o400)
      const keysFile = join(out, 'cache-encryption-keys')
      const [id, key] = readFileSync(keysFile, 'utf8').trim().split(':')
      assert.match(id ?? '', /^compose-\d{8}$/)
      assert.equal(Buffer.from(key ?? '', 'base64').length, 32, 'a 32-byte AES-256 key')
      if (process.getuid?.() === 0) assert.equal(statSync(keysFile).uid, 65532, 'owned by the distroless nonroot user')
    })

    await it('runs again without re-enabling KV and keeps the cache key', async () => {
      const keysBefore = readFileSync(join(out, 'cache-encryption-keys'), 'utf8')
      const { code, stderr, calls } = await seed({ FAKE_KV_MOUNTED: '1' })
      assert.equal(code, 0, stderr)
      assert.ok(!calls.some((call) => call.startsWith('secrets enable')))
      assert.equal(readFileSync(join(out, 'cache-encryption-keys'), 'utf8'), keysBefore)
    })

    await it('refuses to run without VAULT_TOKEN', async () => {
      const { code, stderr } = await seed({ VAULT_TOKEN: '' })
      assert.notEqual(code, 0)
      assert.match(stderr, /VAULT_TOKEN/)
    })
  })
})
