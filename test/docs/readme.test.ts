import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { withFreshReference } from '../../scripts/config-reference.js'
import { ENV_SETTINGS } from '../../src/config/settings.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

await describe('README', async () => {
  await it('starts with the demo command and the test command', () => {
    const firstCommands = readme.split('\n').slice(0, 6).join('\n')
    assert.match(firstCommands, /npm ci && npm run demo/)
    assert.match(firstCommands, /npm ci && npm test/)
  })

  await it('documents every environment variable the broker reads (run `npm run docs:config` after changing settings)', () => {
    assert.equal(withFreshReference(readme), readme)
    for (const setting of ENV_SETTINGS) assert.ok(readme.includes(`| \`${setting.env}\` |`), setting.env)
  })
})
