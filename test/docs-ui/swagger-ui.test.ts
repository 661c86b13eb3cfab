import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { chromium, type BrowserContext } from 'playwright-core'
import { http } from '../support/http.js'
import { startStack } from '../support/stack.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const SCREENSHOT = '/tmp/docs.png'
/** Debian's chromium, headless, nothing phoning home. */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

interface Operation { method: string, path: string, operationId: string | undefined }

function documentedOperations (): Operation[] {
  const document = JSON.parse(readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')) as { paths: Record<string, Record<string, { operationId?: string }>> }
  return Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => ({ method: method.toUpperCase(), path, operationId: operation.operationId })))
}

// Without a browser: a CI run must fail (add `apt-get install -y chromium` to .ci/run); a laptop run skips.
const missing = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`
if (missing !== undefined && process.env.CI === undefined) process.stderr.write(`skipping the Swagger UI browser test: ${missing}\n`)

async function openBrowser (): Promise<{ context: BrowserContext, close: () => Promise<void> }> {
  // A fresh profile per run (playwright takes it as launchPersistentContext's folder, not a flag).
  const profile = mkdtempSync(join(tmpdir(), 'qlik-broker-chromium-'))
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 1000 } })
  return {
    context,
    close: async () => {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    }
  }
}

await describe('Swagger UI at /docs, in headless Chromium', async () => {
  await it('renders offline, lists every route of the OpenAPI document, and a "Try it out" call with the Authorize key answers 200', { skip: process.env.CI === undefined ? missing : undefined, timeout: 60_000 }, async (t) => {
    assert.equal(missing, undefined, `${missing ?? ''}; CI must install it (.ci/run: apt-get install -y chromium)`)
    const stack = await startStack(t)
    const unauthenticated = await http(stack.url, 'GET', '/regions')
    assert.equal(unauthenticated.status, 401, 'GET /regions needs the key: a 200 in the UI means Authorize worked')

    const browser = await openBrowser()
    t.after(browser.close)
    // Offline: anything not served by the broker is refused and recorded.
    const external: string[] = []
    await browser.context.route('**/*', async (route) => {
      const url = route.request().url()
      if (url.startsWith(stack.url) || url.startsWith('data:')) await route.continue()
      else {
        external.push(url)
        await route.abort()
      }
    })
    const page = await browser.context.newPage()
    page.setDefaultTimeout(10_000)
    const pageErrors: string[] = []
    page.on('pageerror', (error) => { pageErrors.push(error.message) })

    const opened = await page.goto(`${stack.url}/docs`)
    assert.equal(opened?.status(), 200)
    await page.locator('.swagger-ui .info .title').filter({ hasText: 'qlik-broker' }).waitFor({ timeout: 15_000 })

    // Every operation of the committed document is on the page, and nothing else.
    const expected = documentedOperations()
    await page.locator('.opblock').nth(expected.length - 1).waitFor()
    const rendered = await page.locator('.opblock').evaluateAll((blocks) => blocks.map((block) => ({
      method: block.querySelector('.opblock-summary-method')?.textContent?.trim() ?? '',
      path: block.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? '',
      id: block.getAttribute('id') ?? ''
    })))
    const key = (operation: { method: string, path: string }): string => `${operation.method} ${operation.path}`
    assert.deepEqual(rendered.map(key).sort(), expected.map(key).sort())
    for (const operation of expected) {
      if (operation.operationId === undefined) continue
      assert.ok(rendered.some((block) => block.id.endsWith(`-${operation.operationId ?? ''}`) && key(block) === key(operation)), `operation ${operation.operationId} is on the page`)
    }
    assert.equal(rendered.some((block) => block.path === '/metrics'), false, '/metrics is not documented')

    // Authorize with the broker key.
    await page.locator('.auth-wrapper .authorize').click()
    const dialog = page.locator('.dialog-ux .modal-ux')
    await dialog.locator('input').first().fill(stack.keys.admin)
    await dialog.locator('.auth-btn-wrapper button.authorize').click()
    await dialog.locator('.auth-btn-wrapper button.btn-done').click()

    // Try it out: GET /regions.
    const block = page.locator('.opblock').filter({ has: page.locator('.opblock-summary-path[data-path="/regions"]') }).filter({ has: page.locator('.opblock-summary-method', { hasText: 'GET' }) })
    await block.locator('.opblock-summary').first().click()
    // The broker's UI starts with "Try it out" already on (tryItOutEnabled); otherwise switch it on.
    const tryOut = block.locator('.try-out__btn')
    if ((await tryOut.textContent())?.trim() === 'Try it out') await tryOut.click()
    await block.locator('.execute').click()
    const status = block.locator('.live-responses-table .response .response-col_status')
    await status.first().waitFor({ timeout: 10_000 })
    assert.equal((await status.first().textContent())?.trim(), '200', 'the response shown is 200')
    const body = await block.locator('.live-responses-table .response-col_description pre.microlight, .live-responses-table .response-col_description pre').first().textContent() ?? ''
    assert.match(body, /"code":\s*"eu"/, 'the regions list, as the broker answered it')
    assert.match(await block.locator('.curl-command').textContent() ?? '', /Authorization: Bearer/i, 'sent with the Authorize key')

    await block.scrollIntoViewIfNeeded()
    await page.screenshot({ path: SCREENSHOT, fullPage: false })
    assert.deepEqual(external, [], 'Swagger UI works offline: every asset comes from the broker')
    assert.deepEqual(pageErrors, [], 'no script errors on the page')
  })
})
