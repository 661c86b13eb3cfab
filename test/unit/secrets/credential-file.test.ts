import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { readCredentialFile, watchCredentialFile } from '../../../src/secrets/credential-file.js'
import type { CredentialFileWatch } from '../../../src/secrets/credential-file.js'
import { VaultLoginError } from '../../../src/secrets/vault-errors.js'

const INTERVAL_MS = 1000

async function tempDir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'credential-file-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

interface Watched {
  watch: CredentialFileWatch
  changes: () => number
  problems: string[]
  /** Fires the poll interval and waits for the check it started to finish. */
  poll: () => Promise<void>
}

function watch (t: TestContext, path: string): Watched {
  let changes = 0
  const problems: string[] = []
  t.mock.timers.enable({ apis: ['setInterval'] })
  const handle = watchCredentialFile({
    path,
    what: 'the test credential',
    intervalMs: INTERVAL_MS,
    onChange: () => { changes++ },
    onProblem: (reason) => { problems.push(reason) }
  })
  t.after(() => { handle.stop() })
  return {
    watch: handle,
    changes: () => changes,
    problems,
    poll: async () => {
      t.mock.timers.tick(INTERVAL_MS)
      // Joins the check the tick started.
      await handle.check()
    }
  }
}

await describe('readCredentialFile', async () => {
  await it('trims the content, and names the file but never the content when it is missing or blank', async (t) => {
    const dir = await tempDir(t)
    const path = join(dir, 'token')
    await writeFile(path, '  hvs.file-token-1  \n')
    assert.equal(await readCredentialFile(path, 'the test credential'), 'hvs.file-token-1')

    await writeFile(path, ' \n\t')
    await assert.rejects(readCredentialFile(path, 'the test credential'), (err: Error) => err instanceof VaultLoginError && err.message === `the test credential at ${path} is empty`)
    await assert.rejects(readCredentialFile(join(dir, 'absent'), 'the test credential'), /cannot read the test credential at .*absent \(ENOENT\)/)
  })
})

await describe('watchCredentialFile', async () => {
  await it('checks the file on its interval, with no other prompt', async (t) => {
    const dir = await tempDir(t)
    const path = join(dir, 'token')
    await writeFile(path, 'one')
    const w = watch(t, path)
    await w.watch.check()
    await writeFile(path, 'two')
    t.mock.timers.tick(INTERVAL_MS - 1)
    await sleep(50)
    assert.equal(w.changes(), 0, 'not before the interval')
    t.mock.timers.tick(1)
    const deadline = Date.now() + 5000
    while (w.changes() === 0 && Date.now() < deadline) await sleep(10)
    assert.equal(w.changes(), 1)
  })

  await it('reports a change after an atomic rename, but not the first content it sees nor content its owner has seen', async (t) => {
    const dir = await tempDir(t)
    const path = join(dir, 'token')
    await writeFile(path, 'one')
    const w = watch(t, path)

    await w.poll()
    assert.equal(w.changes(), 0, 'the first content is the baseline')
    await w.poll()
    assert.equal(w.changes(), 0, 'same content, no change')

    await writeFile(join(dir, 'token.tmp'), 'two')
    await rename(join(dir, 'token.tmp'), path)
    await w.poll()
    assert.equal(w.changes(), 1)

    // The owner read the next content itself (a login): not reported again.
    await writeFile(path, 'three')
    w.watch.seen('three')
    await w.poll()
    assert.equal(w.changes(), 1)
  })

  await it('follows a Kubernetes-style symlink swap of the directory holding the file', async (t) => {
    const dir = await tempDir(t)
    await mkdir(join(dir, 'v1'))
    await mkdir(join(dir, 'v2'))
    await writeFile(join(dir, 'v1', 'token'), 'one')
    await writeFile(join(dir, 'v2', 'token'), 'two')
    await symlink(join(dir, 'v1'), join(dir, '..data'))
    const path = join(dir, '..data', 'token')
    const w = watch(t, path)
    await w.poll()

    await symlink(join(dir, 'v2'), join(dir, '..data.new'))
    await rename(join(dir, '..data.new'), join(dir, '..data'))
    await w.poll()
    assert.equal(w.changes(), 1)
  })

  await it('reports a missing or empty file once per problem, not as a change, and a later new content as one change', async (t) => {
    const dir = await tempDir(t)
    const path = join(dir, 'token')
    await writeFile(path, 'one')
    const w = watch(t, path)
    await w.poll()

    await rm(path)
    await w.poll()
    await w.poll()
    await writeFile(path, '')
    await w.poll()
    await w.poll()
    assert.equal(w.problems.length, 2, w.problems.join(' | '))
    assert.match(w.problems[0] ?? '', /\(ENOENT\)/)
    assert.match(w.problems[1] ?? '', /is empty/)
    assert.equal(w.changes(), 0)

    await writeFile(path, 'one')
    await w.poll()
    assert.equal(w.changes(), 0, 'the same content back is no change')
    await rm(path)
    await w.poll()
    assert.equal(w.problems.length, 3, 'a problem after recovery is reported again')
    await writeFile(path, 'two')
    await w.poll()
    assert.equal(w.changes(), 1)
  })

  await it('stops polling after stop()', async (t) => {
    const dir = await tempDir(t)
    const path = join(dir, 'token')
    await writeFile(path, 'one')
    const w = watch(t, path)
    await w.poll()
    w.watch.stop()
    await writeFile(path, 'two')
    t.mock.timers.tick(INTERVAL_MS * 3)
    await sleep(50)
    assert.equal(w.changes(), 0)
  })
})
