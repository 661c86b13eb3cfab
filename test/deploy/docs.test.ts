import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { parse as parseYaml } from 'yaml'
import { loadConfig } from '../../src/config/load-config.js'
import { chartDefaults, compileValuesSchema, mergeValues } from './chart-values.js'
import { CHART_DIR, REPO_ROOT, tempDir } from './tools.js'

const DOCS = join(REPO_ROOT, 'docs')
const operatorDocs = readdirSync(DOCS).filter((file) => /^(deploy|operations)-.+\.md$/.test(file)).map((file) => join(DOCS, file))

function codeBlocks (markdown: string, language: string): string[] {
  return [...markdown.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((match) => match[1] ?? '')
}

await describe('operator docs', async () => {
  await it('exist for deployment and operations', () => {
    for (const name of ['deploy-helm.md', 'deploy-compose.md', 'operations-secret-rotation.md', 'operations-bot-users.md', 'operations-alerts.md']) {
      assert.ok(existsSync(join(DOCS, name)), `docs/${name}`)
    }
  })

  await it('link only to files that exist (the simulator package\'s README too)', () => {
    for (const file of [...operatorDocs, join(CHART_DIR, 'README.md'), join(REPO_ROOT, 'packages', 'qlik-cloud-simulator', 'README.md')]) {
      const text = readFileSync(file, 'utf8')
      for (const [, target = ''] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target) || target.startsWith('#')) continue
        const path = target.split('#')[0] ?? ''
        assert.ok(existsSync(join(dirname(file), path)), `${file}: broken link ${target}`)
      }
    }
  })

  await it('give a Vault policy that reads the chart\'s default secret paths and nothing else', () => {
    const values = parseYaml(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as { vault: { kvMount: string, secretPathTemplate: string } }
    const prefix = values.vault.secretPathTemplate.replace('{region}', '*')
    const [policy = ''] = codeBlocks(readFileSync(join(DOCS, 'deploy-helm.md'), 'utf8'), 'hcl')
    const paths = [...policy.matchAll(/path "([^"]+)" \{\s*capabilities = \["read"\]\s*\}/g)].map((match) => match[1])
    assert.deepEqual(paths, [`${values.vault.kvMount}/data/${prefix}`, `${values.vault.kvMount}/metadata/${prefix}`])
    assert.equal((policy.match(/^path /gm) ?? []).length, 2)
  })

  await it('give clean-up callers for bot users that the broker accepts: the migration command\'s and the manual fallback\'s', () => {
    const blocks = codeBlocks(readFileSync(join(DOCS, 'operations-bot-users.md'), 'utf8'), 'yaml').filter((yaml) => yaml.startsWith('callers:'))
    assert.equal(blocks.length, 2, 'a callers: example for the command and one for the manual way')
    const dir = tempDir('docs-config')
    try {
      const grantsOf = (block: string): { actions: readonly string[], tenantApi: readonly string[] } => {
        const file = join(dir.path, 'config.yaml')
        writeFileSync(file, `regions: [{ code: eu }]\n${block.replace('sha256:…', `sha256:${'ab'.repeat(32)}`)}`)
        const grant = loadConfig({ BROKER_CONFIG_FILE: file }).callers[0]?.grants[0]
        return { actions: grant?.actions ?? [], tenantApi: grant?.tenantApi ?? [] }
      }
      const [command = '', manual = ''] = blocks
      for (const needed of ['bot-users:migrate', 'bot-users:read']) assert.ok(grantsOf(command).actions.includes(needed), `the command's example grants ${needed}`)
      const manualGrants = grantsOf(manual).tenantApi
      for (const needed of ['GET /api/v1/users/**', 'PUT /api/v1/apps/*/owner', 'PATCH /api/v1/spaces/*', 'POST /api/v1/data-files/*/actions/change-owner', 'POST /api/v1/automations/*/actions/change-owner']) {
        assert.ok(manualGrants.includes(needed), `the manual example grants ${needed}`)
      }
    } finally {
      dir.remove()
    }
  })

  await it('give JWT caller and tracing values that the chart schema and the broker accept', () => {
    const blocks = codeBlocks(readFileSync(join(DOCS, 'deploy-helm.md'), 'utf8'), 'yaml')
    const jwt = blocks.find((yaml) => yaml.startsWith('issuers:'))
    const tracing = blocks.find((yaml) => yaml.startsWith('tracing:'))
    assert.ok(jwt && tracing, 'an issuers: and a tracing: example')
    const validate = compileValuesSchema()
    for (const block of [jwt, tracing]) {
      const values = mergeValues(chartDefaults(), parseYaml(block))
      assert.ok(validate(values), `${block.split('\n')[0] ?? ''} ${JSON.stringify(validate.errors)}`)
    }
    const { issuers, callers } = parseYaml(jwt) as { issuers: unknown, callers: unknown }
    const config = loadConfig({}, { regions: [{ code: 'eu' }], issuers, callers })
    assert.deepEqual(config.issuers.map((issuer) => [issuer.name, issuer.audiences, issuer.jwksUrl]), [['cluster', ['qlik-broker'], 'https://kubernetes.default.svc/openid/v1/jwks']])
    assert.deepEqual(config.callers.map((caller) => caller.name), ['billing', 'reporting'])
  })

  await it('show the KV v2 agent template the chart renders (.Data.data)', () => {
    const helmDoc = readFileSync(join(DOCS, 'deploy-helm.md'), 'utf8')
    assert.match(helmDoc, /\{\{ \.Data\.data\.client_id \| toJSON \}\}/)
    const template = readFileSync(join(CHART_DIR, 'templates', 'deployment.yaml'), 'utf8')
    assert.match(template, /\{\{ \.Data\.data\.client_id \| toJSON \}\}/)
  })

  await it('name every proposed metric with the qlik_broker_ prefix', () => {
    const alerts = readFileSync(join(DOCS, 'operations-alerts.md'), 'utf8')
    const names = [...alerts.matchAll(/`(qlik_broker_[a-z_]+)`/g)].map((match) => match[1])
    assert.ok(names.length >= 10)
    for (const metric of alerts.matchAll(/\b([a-z]+_[a-z_]+)\{/g)) {
      if (!/^(kube|container)_/.test(metric[1] ?? '')) assert.match(metric[1] ?? '', /^qlik_broker_/)
    }
  })
})
