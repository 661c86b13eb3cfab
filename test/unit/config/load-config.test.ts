import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ConfigError } from '../../../src/config/config-error.js'
import { loadConfig, type Config } from '../../../src/config/load-config.js'
import { DEFAULT_REGIONS } from '../../../src/config/schema.js'

const HASH_A = `sha256:${'a'.repeat(64)}`
const HASH_B = `sha256:${'b'.repeat(64)}`

type Env = Record<string, string | undefined>

/** The problems of the ConfigError that `load` throws; fails when it does not throw one. */
function problemsOf (load: () => unknown): readonly string[] {
  try {
    load()
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`)
    assert.ok(error.problems.length > 0)
    for (const problem of error.problems) assert.ok(error.message.includes(problem), 'the message lists every problem')
    return error.problems
  }
  assert.fail('expected loadConfig to throw a ConfigError')
}

function assertProblem (problems: readonly string[], pattern: RegExp): void {
  assert.ok(problems.some((problem) => pattern.test(problem)), `no problem matches ${String(pattern)} in:\n${problems.join('\n')}`)
}

let dir: string
let files = 0
before(async () => { dir = await mkdtemp(join(tmpdir(), 'qb-config-')) })
after(async () => { await rm(dir, { recursive: true, force: true }) })

async function configFile (extension: string, content: string): Promise<string> {
  const path = join(dir, `config-${++files}${extension}`)
  await writeFile(path, content)
  return path
}

await describe('loadConfig', async () => {
  await describe('defaults', async () => {
    await it('serves the seven Qlik Cloud regions with their register hosts and tenant domains when nothing is set', () => {
      const config = loadConfig({})
      assert.deepEqual(config.regions.map((region) => region.code), ['us', 'eu', 'de', 'uk', 'sg', 'ap', 'jp'])
      assert.deepEqual([...DEFAULT_REGIONS], ['us', 'eu', 'de', 'uk', 'sg', 'ap', 'jp'])
      for (const region of config.regions) {
        assert.equal(region.registerHost, `register.${region.code}.qlikcloud.com`)
        assert.equal(region.tenantDomain, `${region.code}.qlikcloud.com`)
        assert.equal(region.upstreamOrigin, undefined)
      }
    })

    await it('uses the region code as the secret file base name when the source is file', () => {
      const config = loadConfig({})
      assert.equal(config.secrets.source, 'file')
      assert.equal(config.secrets.dir, './secrets')
      assert.deepEqual(config.regions.map((region) => region.secretPath), ['us', 'eu', 'de', 'uk', 'sg', 'ap', 'jp'])
    })

    await it('fills the default Vault path template per region when the source is vault', () => {
      const config = loadConfig({ SECRETS_SOURCE: 'vault', VAULT_K8S_ROLE: 'qlik-broker' })
      assert.deepEqual(config.regions.map((region) => region.secretPath), DEFAULT_REGIONS.map((code) => `qlik/regions/${code}`))
      assert.equal(config.secrets.vault.authMethod, 'kubernetes')
      assert.equal(config.secrets.vault.address, 'http://127.0.0.1:8200')
    })

    await it('fills VAULT_SECRET_PATH_TEMPLATE per region when it is set', () => {
      const config = loadConfig({ SECRETS_SOURCE: 'vault', VAULT_K8S_ROLE: 'qlik-broker', VAULT_SECRET_PATH_TEMPLATE: 'teams/{region}/qlik-{region}' })
      assert.equal(config.regions.find((region) => region.code === 'eu')?.secretPath, 'teams/eu/qlik-eu')
      assert.equal(config.regions.find((region) => region.code === 'jp')?.secretPath, 'teams/jp/qlik-jp')
    })

    await it('ignores VAULT_SECRET_PATH_TEMPLATE when the source is file', () => {
      const config = loadConfig({ VAULT_SECRET_PATH_TEMPLATE: 'teams/{region}' })
      assert.equal(config.regions.find((region) => region.code === 'eu')?.secretPath, 'eu')
    })

    await it('derives hosts from QLIK_DOMAIN and the list from QLIK_REGIONS when both are set', () => {
      const config = loadConfig({ QLIK_DOMAIN: 'qlik.example.net', QLIK_REGIONS: ' eu , us,' })
      assert.deepEqual(config.regions, [
        { code: 'eu', registerHost: 'register.eu.qlik.example.net', tenantDomain: 'eu.qlik.example.net', secretPath: 'eu', upstreamOrigin: undefined },
        { code: 'us', registerHost: 'register.us.qlik.example.net', tenantDomain: 'us.qlik.example.net', secretPath: 'us', upstreamOrigin: undefined }
      ])
    })

    await it('has the documented server, cache and qlik defaults when nothing is set', () => {
      const config = loadConfig({})
      assert.equal(config.server.host, '0.0.0.0')
      assert.equal(config.server.port, 8080)
      assert.equal(config.server.logLevel, 'info')
      assert.equal(config.server.docsEnabled, true)
      assert.equal(config.cache.redisUrl, undefined)
      assert.equal(config.cache.keyPrefix, 'qlik-broker:')
      assert.equal(config.cache.expiryMarginSeconds, 300)
      assert.equal(config.qlik.tenantReadsVia, 'tenant')
      assert.equal(config.qlik.tokenScope, undefined)
      assert.deepEqual(config.callers, [])
    })
  })

  await describe('environment coercion', async () => {
    await it('turns numeric strings into numbers when ports and timeouts are set', () => {
      const config = loadConfig({ BROKER_PORT: '9090', VAULT_TIMEOUT_MS: '2500', TOKEN_EXPIRY_MARGIN_SECONDS: '0', QLIK_TIMEOUT_MS: '15000' })
      assert.equal(config.server.port, 9090)
      assert.equal(config.secrets.vault.timeoutMs, 2500)
      assert.equal(config.cache.expiryMarginSeconds, 0)
      assert.equal(config.qlik.timeoutMs, 15000)
    })

    await it('treats an empty variable as unset when it is the empty string', () => {
      assert.equal(loadConfig({ BROKER_PORT: '', LOG_LEVEL: '' }).server.port, 8080)
    })

    for (const [value, expected] of [['false', false], ['no', false], ['0', false], ['off', false], ['true', true], ['yes', true], ['1', true], ['on', true]] as const) {
      await it(`reads BROKER_DOCS_ENABLED=${value} as ${String(expected)} when given as a string boolean`, () => {
        assert.equal(loadConfig({ BROKER_DOCS_ENABLED: value }).server.docsEnabled, expected)
      })
    }

    await it('refuses a boolean it cannot read, naming the variable, when BROKER_DOCS_ENABLED is not a string boolean', () => {
      assertProblem(problemsOf(() => loadConfig({ BROKER_DOCS_ENABLED: 'maybe' })), /^BROKER_DOCS_ENABLED \(server\.docsEnabled\): /)
    })

    for (const value of ['abc', '70000', '-1', '80.5']) {
      await it(`refuses BROKER_PORT=${value} naming the variable when it is not a port`, () => {
        assertProblem(problemsOf(() => loadConfig({ BROKER_PORT: value })), /^BROKER_PORT \(server\.port\): /)
      })
    }

    await it('refuses a blank port when BROKER_PORT is only whitespace', () => {
      assertProblem(problemsOf(() => loadConfig({ BROKER_PORT: ' ' })), /^BROKER_PORT /)
    })

    await it('refuses a log level that pino does not have when LOG_LEVEL is unknown', () => {
      assertProblem(problemsOf(() => loadConfig({ LOG_LEVEL: 'loud' })), /^LOG_LEVEL \(server\.logLevel\): /)
    })

    await it('refuses a REDIS_URL that is not redis: or rediss: when another scheme is given', () => {
      assertProblem(problemsOf(() => loadConfig({ REDIS_URL: 'http://127.0.0.1:6379', CACHE_ENCRYPTION_KEYS: 'k1:x' })), /^REDIS_URL \(cache\.redisUrl\): /)
    })
  })

  await describe('QLIK_UPSTREAM_ORIGIN', async () => {
    await it('applies the origin to every region when it is an origin', () => {
      const config = loadConfig({ QLIK_UPSTREAM_ORIGIN: 'http://127.0.0.1:4100' })
      assert.equal(config.qlik.upstreamOrigin, 'http://127.0.0.1:4100')
      assert.ok(config.regions.every((region) => region.upstreamOrigin === 'http://127.0.0.1:4100'))
    })

    for (const value of ['http://127.0.0.1:4100/sim', 'https://proxy.internal/qlik/', 'ftp://127.0.0.1:4100']) {
      await it(`refuses QLIK_UPSTREAM_ORIGIN=${value} naming the variable when it is not an http(s) origin`, () => {
        assertProblem(problemsOf(() => loadConfig({ QLIK_UPSTREAM_ORIGIN: value })), /^QLIK_UPSTREAM_ORIGIN \(qlik\.upstreamOrigin\): /)
      })
    }

    await it('reports a ConfigError naming the variable when QLIK_UPSTREAM_ORIGIN or VAULT_ADDR is not a URL at all', () => {
      const problems = problemsOf(() => loadConfig({ QLIK_UPSTREAM_ORIGIN: 'not a url', VAULT_ADDR: 'vault.internal' }))
      assertProblem(problems, /^QLIK_UPSTREAM_ORIGIN \(qlik\.upstreamOrigin\): /)
      assertProblem(problems, /^VAULT_ADDR \(secrets\.vault\.address\): /)
    })

    for (const value of ['http://127.0.0.1:4100?x=1', 'http://127.0.0.1:4100#frag', 'http://user:pass@127.0.0.1:4100']) {
      await it(`refuses QLIK_UPSTREAM_ORIGIN=${value} when it carries more than scheme, host and port`, () => {
        assertProblem(problemsOf(() => loadConfig({ QLIK_UPSTREAM_ORIGIN: value })), /^QLIK_UPSTREAM_ORIGIN /)
      })
    }
  })

  await describe('config file', async () => {
    await it('reads regions and callers from YAML when BROKER_CONFIG_FILE ends in .yaml', async () => {
      const path = await configFile('.yaml', [
        'regions:',
        '  - code: eu',
        '    upstreamOrigin: http://127.0.0.1:4100',
        '  - code: lab',
        '    registerHost: register.lab.example.com',
        '    tenantDomain: lab.example.com',
        '    secretPath: qlik-lab',
        'callers:',
        '  - name: provisioning',
        `    apiKeyHashes: ["${HASH_A}"]`,
        '    grants:',
        '      - regions: [eu, lab]',
        '        actions: [tenants:create, tenants:read]',
        '      - regions: "*"',
        '        tenantApi: ["GET|POST /api/v1/users/**"]',
        '        tenants: [acme.eu.qlikcloud.com]'
      ].join('\n'))
      const config = loadConfig({ BROKER_CONFIG_FILE: path, QLIK_REGIONS: 'us' })
      assert.equal(config.configFile, path)
      assert.deepEqual(config.regions, [
        { code: 'eu', registerHost: 'register.eu.qlikcloud.com', tenantDomain: 'eu.qlikcloud.com', secretPath: 'eu', upstreamOrigin: 'http://127.0.0.1:4100' },
        { code: 'lab', registerHost: 'register.lab.example.com', tenantDomain: 'lab.example.com', secretPath: 'qlik-lab', upstreamOrigin: undefined }
      ], 'the file\'s regions replace QLIK_REGIONS')
      assert.deepEqual(config.callers, [{
        name: 'provisioning',
        apiKeyHashes: [HASH_A],
        grants: [
          { regions: ['eu', 'lab'], actions: ['tenants:create', 'tenants:read'], tenantApi: [], tenants: '*' },
          { regions: '*', actions: [], tenantApi: ['GET|POST /api/v1/users/**'], tenants: ['acme.eu.qlikcloud.com'] }
        ]
      }])
    })

    await it('reads regions and callers from JSON when BROKER_CONFIG_FILE ends in .json', async () => {
      const path = await configFile('.json', JSON.stringify({
        regions: [{ code: 'us' }, { code: 'jp', secretPath: 'custom/jp' }],
        callers: [{ name: 'reader', apiKeyHashes: [HASH_B], grants: [{ regions: ['jp'], actions: ['tenants:read'], tenants: ['t-1'] }] }]
      }))
      const config = loadConfig({ BROKER_CONFIG_FILE: path, SECRETS_SOURCE: 'vault', VAULT_AUTH_METHOD: 'token', VAULT_TOKEN_FILE: '/run/token' })
      assert.deepEqual(config.regions.map((region) => [region.code, region.secretPath]), [['us', 'qlik/regions/us'], ['jp', 'custom/jp']])
      assert.equal(config.callers[0]?.name, 'reader')
      assert.deepEqual(config.callers[0]?.grants[0], { regions: ['jp'], actions: ['tenants:read'], tenantApi: [], tenants: ['t-1'] })
    })

    await it('keeps the defaults when the file is empty', async () => {
      const path = await configFile('.yaml', '')
      const config = loadConfig({ BROKER_CONFIG_FILE: path })
      assert.equal(config.regions.length, 7)
      assert.deepEqual(config.callers, [])
    })

    await it('refuses an unknown top-level key naming the file and the allowed keys when the file has one', async () => {
      const path = await configFile('.yaml', 'regions:\n  - code: eu\nserver:\n  port: 1\n')
      const problems = problemsOf(() => loadConfig({ BROKER_CONFIG_FILE: path }))
      assertProblem(problems, new RegExp(`^${escape(path)}: .*server.*allowed top-level keys: regions, callers`))
    })

    await it('refuses an unknown key inside a region naming the file when a region entry has one', async () => {
      const path = await configFile('.yaml', 'regions:\n  - code: eu\n    tenantHost: x.example.com\n')
      assertProblem(problemsOf(() => loadConfig({ BROKER_CONFIG_FILE: path })), new RegExp(`^${escape(path)}: regions\\.0: .*tenantHost`))
    })

    await it('reports the file as unreadable with its error code when it does not exist', () => {
      const path = join(dir, 'missing.yaml')
      assertProblem(problemsOf(() => loadConfig({ BROKER_CONFIG_FILE: path })), new RegExp(`^BROKER_CONFIG_FILE: cannot read ${escape(path)} \\(ENOENT\\)$`))
    })

    await it('reports the file as unreadable when it is a directory', () => {
      assertProblem(problemsOf(() => loadConfig({ BROKER_CONFIG_FILE: dir })), /^BROKER_CONFIG_FILE: cannot read .* \(EISDIR\)$/)
    })

    await it('reports invalid JSON when a .json file does not parse', async () => {
      const path = await configFile('.json', '{"regions": [')
      assertProblem(problemsOf(() => loadConfig({ BROKER_CONFIG_FILE: path })), new RegExp(`^BROKER_CONFIG_FILE: ${escape(path)} is not valid JSON: `))
    })

    await it('reports invalid YAML when a .yaml file does not parse', async () => {
      const path = await configFile('.yaml', 'regions: [eu\ncallers: {')
      assertProblem(problemsOf(() => loadConfig({ BROKER_CONFIG_FILE: path })), new RegExp(`^BROKER_CONFIG_FILE: ${escape(path)} is not valid YAML: `))
    })

    await it('refuses a file whose top level is not a mapping when it is a list', async () => {
      const path = await configFile('.yaml', '- code: eu\n')
      assertProblem(problemsOf(() => loadConfig({ BROKER_CONFIG_FILE: path })), new RegExp(`^${escape(path)}: \\(top level\\): `))
    })

    await it('names the file and the entry when a caller in the file is invalid', async () => {
      const path = await configFile('.yaml', 'callers:\n  - name: Bad Name\n    apiKeyHashes: [md5:abc]\n    grants: [{ regions: "*" }]\n')
      const problems = problemsOf(() => loadConfig({ BROKER_CONFIG_FILE: path }))
      assertProblem(problems, new RegExp(`^${escape(path)}: callers\\.0\\.name: a caller name`))
      assertProblem(problems, new RegExp(`^${escape(path)}: callers\\.0\\.apiKeyHashes\\.0: an API key hash`))
      assertProblem(problems, new RegExp(`^${escape(path)}: callers\\.0\\.grants\\.0: a grant needs at least one of`))
    })
  })

  await describe('cross-field rules', async () => {
    await it('requires VAULT_TOKEN or VAULT_TOKEN_FILE when VAULT_AUTH_METHOD is token', () => {
      assertProblem(problemsOf(() => loadConfig({ SECRETS_SOURCE: 'vault', VAULT_AUTH_METHOD: 'token' })), /^VAULT_TOKEN \(secrets\.vault\.token\): VAULT_TOKEN or VAULT_TOKEN_FILE is required/)
      assert.equal(loadConfig({ SECRETS_SOURCE: 'vault', VAULT_AUTH_METHOD: 'token', VAULT_TOKEN_FILE: '/run/t' }).secrets.vault.tokenFile, '/run/t')
    })

    await it('requires VAULT_K8S_ROLE when the Vault auth method is left at kubernetes', () => {
      const problems = problemsOf(() => loadConfig({ SECRETS_SOURCE: 'vault' }))
      assert.deepEqual(problems, ['VAULT_K8S_ROLE (secrets.vault.kubernetesRole): VAULT_K8S_ROLE is required with VAULT_AUTH_METHOD=kubernetes'])
    })

    await it('accepts approle when VAULT_ROLE_ID and VAULT_SECRET_ID_FILE are set', () => {
      const config = loadConfig({ SECRETS_SOURCE: 'vault', VAULT_AUTH_METHOD: 'approle', VAULT_ROLE_ID: 'r', VAULT_SECRET_ID_FILE: '/run/s' })
      assert.equal(config.secrets.vault.roleId, 'r')
    })

    await it('asks nothing of Vault when the source is file', () => {
      assert.equal(loadConfig({ VAULT_AUTH_METHOD: 'approle' }).secrets.source, 'file')
    })

    await it('accepts REDIS_URL when CACHE_ENCRYPTION_KEYS_FILE is set instead of the keys', () => {
      assert.equal(loadConfig({ REDIS_URL: 'rediss://redis:6380/0', CACHE_ENCRYPTION_KEYS_FILE: '/run/keys' }).cache.redisUrl, 'rediss://redis:6380/0')
    })

    await it('takes BROKER_READY_REGIONS as a list of configured regions and refuses one that is not configured', () => {
      assert.deepEqual(loadConfig({ QLIK_REGIONS: 'eu,us,de', BROKER_READY_REGIONS: ' eu, de ' }).server.readyRegions, ['eu', 'de'])
      assert.deepEqual(loadConfig({}).server.readyRegions, [], 'unset: any usable region makes the replica ready')
      assertProblem(problemsOf(() => loadConfig({ QLIK_REGIONS: 'eu,us', BROKER_READY_REGIONS: 'eu,jp' })), /^BROKER_READY_REGIONS \(server\.readyRegions\): region "jp" is not configured$/)
    })

    await it('refuses a region listed twice naming QLIK_REGIONS when the list comes from the environment', () => {
      assertProblem(problemsOf(() => loadConfig({ QLIK_REGIONS: 'eu,us,eu' })), /^QLIK_REGIONS \(qlik\.regions\): region "eu" is listed twice$/)
    })

    await it('refuses a caller defined twice when two entries share a name', () => {
      const callers = [
        { name: 'svc', grants: [{ regions: '*', actions: ['tenants:read'] }] },
        { name: 'svc', grants: [{ regions: '*', actions: ['tenants:read'] }] }
      ]
      assertProblem(problemsOf(() => loadConfig({}, { callers })), /^callers\.1\.name: caller "svc" is defined twice$/)
    })

    await it('accepts a grant on a default region when no region list is given', () => {
      const config = loadConfig({}, { callers: [{ name: 'svc', grants: [{ regions: ['jp'], actions: ['tenants:read'] }] }] })
      assert.deepEqual(config.callers[0]?.grants[0]?.regions, ['jp'])
    })

    await it('reports only the real problem when a setting is invalid and a grant names a default region', () => {
      const problems = problemsOf(() => loadConfig({ BROKER_PORT: 'abc' }, { callers: [{ name: 'svc', grants: [{ regions: ['eu'], actions: ['tenants:read'] }] }] }))
      assert.deepEqual(problems, ['BROKER_PORT (server.port): Invalid input: expected number, received NaN'])
    })

    await it('lists every problem at once, naming the variable where there is one, when many things are wrong', async () => {
      const path = await configFile('.yaml', [
        'regions:',
        '  - code: eu',
        '  - code: us',
        '  - code: eu',
        'callers:',
        '  - name: first',
        `    apiKeyHashes: ["${HASH_A}"]`,
        '    grants:',
        '      - regions: [eu, jp]',
        '        actions: [tenants:read]',
        '  - name: second',
        `    apiKeyHashes: ["${HASH_B}", "${HASH_A}"]`,
        '    grants:',
        '      - regions: "*"',
        '        actions: [tenants:read]'
      ].join('\n'))
      const env: Env = {
        BROKER_CONFIG_FILE: path,
        BROKER_PORT: 'abc',
        LOG_LEVEL: 'loud',
        BROKER_DOCS_ENABLED: 'maybe',
        VAULT_TIMEOUT_MS: '-5',
        SECRETS_SOURCE: 'vault',
        VAULT_AUTH_METHOD: 'approle',
        REDIS_URL: 'redis://127.0.0.1:6379'
      }
      const problems = problemsOf(() => loadConfig(env))
      const expected = [
        /^BROKER_PORT \(server\.port\): /,
        /^LOG_LEVEL \(server\.logLevel\): /,
        /^BROKER_DOCS_ENABLED \(server\.docsEnabled\): /,
        /^VAULT_TIMEOUT_MS \(secrets\.vault\.timeoutMs\): /,
        /^VAULT_ROLE_ID \(secrets\.vault\.roleId\): VAULT_ROLE_ID is required with VAULT_AUTH_METHOD=approle$/,
        /^VAULT_SECRET_ID \(secrets\.vault\.secretId\): VAULT_SECRET_ID or VAULT_SECRET_ID_FILE is required with VAULT_AUTH_METHOD=approle$/,
        /^CACHE_ENCRYPTION_KEYS \(cache\.encryptionKeys\): CACHE_ENCRYPTION_KEYS or CACHE_ENCRYPTION_KEYS_FILE is required with REDIS_URL/,
        new RegExp(`^${escape(path)}: regions\\.2\\.code: region "eu" is listed twice$`),
        new RegExp(`^${escape(path)}: callers\\.0\\.grants\\.0\\.regions: region "jp" is not configured$`),
        new RegExp(`^${escape(path)}: callers\\.1\\.apiKeyHashes\\.1: this API key hash is given to two callers$`)
      ]
      for (const pattern of expected) assertProblem(problems, pattern)
      assert.equal(problems.length, expected.length, `exactly the expected problems:\n${problems.join('\n')}`)
    })
  })

  await describe('the returned configuration', async () => {
    await it('cannot be changed at the top level or per region when it is returned', () => {
      const config: Config = loadConfig({})
      assert.ok(Object.isFrozen(config))
      assert.ok(config.regions.every((region) => Object.isFrozen(region)))
      assert.throws(() => { Object.assign(config, { configFile: '/tmp/other' }) }, TypeError)
      assert.throws(() => { Object.assign(config.regions[0] ?? {}, { tenantDomain: 'evil.example.com' }) }, TypeError)
      assert.equal(config.regions[0]?.tenantDomain, 'us.qlikcloud.com')
    })

    await it('cannot be changed in nested sections, the region list or caller grants when it is returned', () => {
      const config = loadConfig({}, { callers: [{ name: 'svc', grants: [{ regions: '*', actions: ['tenants:read'] }] }] })
      assert.ok(Object.isFrozen(config.regions))
      assert.ok(Object.isFrozen(config.server))
      assert.ok(Object.isFrozen(config.callers))
      assert.ok(Object.isFrozen(config.callers[0]?.grants[0]))
    })
  })
})

function escape (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
