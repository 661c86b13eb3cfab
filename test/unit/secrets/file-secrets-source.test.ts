import assert from 'node:assert/strict'
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { inspect } from 'node:util'
import { createFileSecretsSource } from '../../../src/secrets/file-secrets-source.js'
import { SecretsUnavailableError, type SecretsSource } from '../../../src/secrets/secrets-source.js'
import { captureLogs, type CapturedLogs } from '../../support/log-capture.js'
import { assertNoLeak } from '../../support/leaks.js'

const SECRET = 'file-client-secret-9c2e4a71'
const ROTATED = 'file-client-secret-rotated-5b8d03f2'

interface Setup {
  dir: string
  source: SecretsSource
  logs: CapturedLogs
}

async function setup (t: TestContext, files: Record<string, string>, options: { regions?: Record<string, string>, recheckIntervalMs?: number } = {}): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'qb-secrets-'))
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content)
  const logs = captureLogs()
  const source = createFileSecretsSource({
    dir,
    regions: options.regions ?? { eu: 'eu', us: 'us' },
    logger: logs.logger,
    recheckIntervalMs: options.recheckIntervalMs ?? 60_000
  })
  t.after(async () => {
    await source.close()
    await rm(dir, { recursive: true, force: true })
  })
  return { dir, source, logs }
}

function json (clientId: string, clientSecret: string): string {
  return JSON.stringify({ client_id: clientId, client_secret: clientSecret })
}

async function unavailable (promise: Promise<unknown>): Promise<SecretsUnavailableError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof SecretsUnavailableError, `expected SecretsUnavailableError, got ${String(error)}`)
    return error
  }
  assert.fail('expected SecretsUnavailableError')
}

/** Everything an error could print through: message, String, inspect (stack and cause), JSON. */
function printed (error: Error): string {
  return [error.message, String(error), inspect(error, { depth: null }), JSON.stringify(error)].join('\n')
}

async function eventually (check: () => Promise<boolean>, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`)
    await sleep(10)
  }
}

await describe('file secrets source', async () => {
  await describe('reading', async () => {
    await it('reads client id and secret from <region>.json when the file is JSON', async (t) => {
      const { source } = await setup(t, { 'eu.json': json('client-eu', SECRET) })
      const credentials = await source.get('eu')
      assert.equal(credentials.region, 'eu')
      assert.equal(credentials.clientId, 'client-eu')
      assert.equal(credentials.clientSecret.reveal(), SECRET)
      assert.match(credentials.version, /^[0-9a-f]{16}$/)
      assert.equal(source.kind, 'file')
    })

    for (const extension of ['.yaml', '.yml']) {
      await it(`reads client id and secret from <region>${extension} when the file is YAML`, async (t) => {
        const { source } = await setup(t, { [`eu${extension}`]: `client_id: client-eu\nclient_secret: "${SECRET}"\n` })
        const credentials = await source.get('eu')
        assert.equal(credentials.clientId, 'client-eu')
        assert.equal(credentials.clientSecret.reveal(), SECRET)
      })
    }

    await it('reads the file named by the region\'s secret path when it differs from the code', async (t) => {
      const { source } = await setup(t, { 'qlik-eu-prod.json': json('client-eu', SECRET) }, { regions: { eu: 'qlik-eu-prod' } })
      assert.equal((await source.get('eu')).clientId, 'client-eu')
    })

    await it('gives the same version when the content is the same and another when the secret differs', async (t) => {
      const { source } = await setup(t, { 'eu.json': json('client', SECRET), 'us.json': json('client', SECRET) })
      const { source: other } = await setup(t, { 'eu.json': json('client', ROTATED) })
      const eu = await source.get('eu')
      assert.equal((await source.get('us')).version, eu.version)
      assert.notEqual((await other.get('eu')).version, eu.version)
      assert.equal(eu.version.includes(SECRET.slice(0, 8)), false)
    })

    await it('reads the file once when many requests ask at the same time', async (t) => {
      const { source } = await setup(t, { 'eu.json': json('client-eu', SECRET) })
      const all = await Promise.all(Array.from({ length: 20 }, async () => await source.get('eu')))
      assert.equal(new Set(all.map((credentials) => credentials)).size, 1, 'every caller shares one read')
    })
  })

  await describe('failures', async () => {
    await it('fails naming the expected files when the region\'s file is missing', async (t) => {
      const { source, dir } = await setup(t, {})
      const error = await unavailable(source.get('eu'))
      assert.equal(error.region, 'eu')
      assert.equal(error.message, `credentials for region "eu" are unavailable: no file eu.json or eu.yaml in ${dir}`)
    })

    await it('fails with "region is not configured" when the region has no file name', async (t) => {
      const { source } = await setup(t, {})
      assert.match((await unavailable(source.get('jp'))).message, /"jp" are unavailable: region is not configured$/)
    })

    await it('names the missing field without printing the secret when client_secret is absent', async (t) => {
      const { source } = await setup(t, { 'eu.json': JSON.stringify({ client_id: 'client-eu', clientSecret: SECRET }) })
      const error = await unavailable(source.get('eu'))
      assert.match(error.message, /eu\.json: client_secret: /)
      assertNoLeak({ error: printed(error) }, [SECRET])
    })

    await it('says client_secret is empty when it is the empty string', async (t) => {
      const { source } = await setup(t, { 'eu.yaml': 'client_id: client-eu\nclient_secret: ""\n' })
      assert.match((await unavailable(source.get('eu'))).message, /eu\.yaml: client_secret: client_secret is empty/)
    })

    await it('says the JSON is invalid without printing the secret when the file does not parse', async (t) => {
      const { source } = await setup(t, { 'eu.json': `{"client_id": "client-eu", "client_secret": "${SECRET}",` })
      const error = await unavailable(source.get('eu'))
      assert.match(error.message, /eu\.json is not valid JSON$/)
      assertNoLeak({ error: printed(error) }, [SECRET])
    })

    await it('says the YAML is invalid without printing the secret when the file does not parse', async (t) => {
      const { source } = await setup(t, { 'eu.yaml': `client_id: client-eu\nclient_secret: "${SECRET}\n  bad: [` })
      const error = await unavailable(source.get('eu'))
      assert.match(error.message, /eu\.yaml is not valid YAML$/)
      assertNoLeak({ error: printed(error) }, [SECRET])
    })

    await it('refuses a secret of the wrong type without printing it when client_secret is a number', async (t) => {
      const { source } = await setup(t, { 'eu.json': '{"client_id": "client-eu", "client_secret": 918273645501}' })
      const error = await unavailable(source.get('eu'))
      assert.match(error.message, /client_secret: /)
      assertNoLeak({ error: printed(error) }, ['918273645501'])
    })

    await it('refuses a file that is only the secret without printing it when the content is a bare string', async (t) => {
      const { source } = await setup(t, { 'eu.json': JSON.stringify(SECRET) })
      const error = await unavailable(source.get('eu'))
      assertNoLeak({ error: printed(error) }, [SECRET])
    })
  })

  await describe('rotation', async () => {
    await it('picks up a rewritten file with a new version at the next recheck', async (t) => {
      const { source, dir, logs } = await setup(t, { 'eu.json': json('client-eu', SECRET) }, { recheckIntervalMs: 20 })
      assert.equal(source.held?.('eu'), undefined, 'nothing is held before the first read')
      const before = await source.get('eu')
      assert.equal(source.held?.('eu'), before, 'held() answers what get() answers from memory')
      await writeFile(join(dir, 'eu.json'), json('client-eu', ROTATED))
      await eventually(async () => (await source.get('eu')).version !== before.version, 'the new version is served')
      const after = await source.get('eu')
      assert.equal(after.clientSecret.reveal(), ROTATED)
      assert.equal(source.held?.('eu')?.version, after.version, 'and the rotated secret once read again')
      assert.match(logs.text(), /regional client secret changed on disk/)
      assertNoLeak({ logs: logs.text() }, [SECRET, ROTATED])
    })

    await it('reads the file again at once when refresh is called', async (t) => {
      const { source, dir } = await setup(t, { 'eu.json': json('client-eu', SECRET) })
      const before = await source.get('eu')
      await writeFile(join(dir, 'eu.json'), json('client-eu', ROTATED))
      const refreshed = await source.refresh('eu')
      assert.notEqual(refreshed.version, before.version)
      assert.equal((await source.get('eu')).clientSecret.reveal(), ROTATED)
    })

    await it('keeps serving what it read and reports unreachable when the file disappears', async (t) => {
      const { source, dir, logs } = await setup(t, { 'eu.json': json('client-eu', SECRET) }, { recheckIntervalMs: 20 })
      await source.get('eu')
      await rm(join(dir, 'eu.json'))
      await eventually(async () => !source.status().reachable, 'the source reports unreachable')
      assert.equal((await source.get('eu')).clientSecret.reveal(), SECRET)
      assert.match(source.status().lastError ?? '', /no file eu\.json or eu\.yaml/)
      assert.match(logs.text(), /secret file check failed; keeping the credentials already read/)
    })

    await it('reports reachable again when the file comes back with new content', async (t) => {
      const { source, dir } = await setup(t, { 'eu.json': json('client-eu', SECRET) }, { recheckIntervalMs: 20 })
      await source.get('eu')
      await rm(join(dir, 'eu.json'))
      await eventually(async () => !source.status().reachable, 'the source reports unreachable')
      await writeFile(join(dir, 'eu.json'), json('client-eu', ROTATED))
      await eventually(async () => source.status().reachable, 'the source reports reachable')
      assert.equal(source.status().lastError, undefined)
    })

    await it('reports reachable again when the same file comes back unchanged', async (t) => {
      const { source, dir } = await setup(t, { 'eu.json': json('client-eu', SECRET) }, { recheckIntervalMs: 20 })
      await source.get('eu')
      await rename(join(dir, 'eu.json'), join(dir, 'eu.json.moved'))
      await eventually(async () => !source.status().reachable, 'the source reports unreachable')
      await rename(join(dir, 'eu.json.moved'), join(dir, 'eu.json'))
      await eventually(async () => source.status().reachable, 'the source reports reachable', 500)
    })

    await it('stops rechecking when closed', async (t) => {
      const { source, dir } = await setup(t, { 'eu.json': json('client-eu', SECRET) }, { recheckIntervalMs: 20 })
      const before = await source.get('eu')
      await source.close()
      await writeFile(join(dir, 'eu.json'), json('client-eu', ROTATED))
      await sleep(120)
      assert.equal((await source.get('eu')).version, before.version)
    })
  })

  await describe('status', async () => {
    await it('lists no region and is reachable when nothing was read yet', async (t) => {
      const { source } = await setup(t, { 'eu.json': json('client-eu', SECRET) })
      assert.deepEqual(source.status(), { kind: 'file', reachable: true, loadedRegions: [] })
    })

    await it('lists the regions read and the last error when one region fails', async (t) => {
      const { source } = await setup(t, { 'eu.json': json('client-eu', SECRET) })
      await source.get('eu')
      await unavailable(source.get('us'))
      const status = source.status()
      assert.deepEqual(status.loadedRegions, ['eu'])
      assert.match(status.lastError ?? '', /"us" are unavailable: no file us\.json/)
    })
  })

  await describe('sealing', async () => {
    await it('never shows the secret when the credentials are stringified, printed or inspected', async (t) => {
      const { source } = await setup(t, { 'eu.json': json('client-eu', SECRET) })
      const credentials = await source.get('eu')
      assert.equal(String(credentials.clientSecret), '[redacted]')
      assert.equal(`${credentials.clientSecret}`, '[redacted]')
      assert.equal(JSON.stringify(credentials.clientSecret), '"[redacted]"')
      const haystacks = {
        json: JSON.stringify(credentials),
        inspect: inspect(credentials, { depth: null, showHidden: true }),
        template: `${String(credentials.clientSecret)} ${JSON.stringify({ nested: { credentials } })}`,
        status: JSON.stringify(source.status())
      }
      assertNoLeak(haystacks, [SECRET])
      assert.match(haystacks.json, /"clientSecret":"\[redacted\]"/)
      assert.ok(Object.isFrozen(credentials.clientSecret))
    })
  })
})
