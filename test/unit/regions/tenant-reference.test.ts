import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BrokerError } from '../../../src/http/broker-error.js'
import { checkTenantHost, parseTenantReference } from '../../../src/regions/tenant-reference.js'
import { regionConfig } from '../fakes/regions.js'

const EU = regionConfig('eu')

function refused (value: string): BrokerError {
  try {
    parseTenantReference(value, EU)
  } catch (error) {
    assert.ok(error instanceof BrokerError, `expected a BrokerError, got ${String(error)}`)
    return error
  }
  assert.fail(`expected ${JSON.stringify(value)} to be refused`)
}

await describe('parseTenantReference', async () => {
  for (const id of ['t-1', 'AbC_123-xyz', 'x'.repeat(64), 'register', 'localhost']) {
    await it(`reads ${id.slice(0, 20)} as a tenant id when it is letters, digits, _ or -`, () => {
      assert.deepEqual(parseTenantReference(id, EU), { kind: 'id', id })
    })
  }

  for (const [value, hostname] of [
    ['acme.eu.qlikcloud.com', 'acme.eu.qlikcloud.com'],
    ['ACME.EU.QlikCloud.COM', 'acme.eu.qlikcloud.com'],
    ['acme.eu.qlikcloud.com.', 'acme.eu.qlikcloud.com'],
    ['a-1.eu.qlikcloud.com', 'a-1.eu.qlikcloud.com'],
    ['0.eu.qlikcloud.com', '0.eu.qlikcloud.com'],
    [`${'a'.repeat(63)}.eu.qlikcloud.com`, `${'a'.repeat(63)}.eu.qlikcloud.com`]
  ] as const) {
    await it(`reads ${value.slice(0, 40)} as the hostname ${hostname.slice(0, 40)} when it is a tenant host of the region`, () => {
      assert.deepEqual(parseTenantReference(value, EU), { kind: 'hostname', hostname })
    })
  }

  for (const [label, value] of [
    ['empty', ''],
    ['in another region', 'acme.us.qlikcloud.com'],
    ['in another domain', 'acme.eu.example.com'],
    ['the tenant domain itself', 'eu.qlikcloud.com'],
    ['the domain followed by another domain', 'x.eu.qlikcloud.com.evil.com'],
    ['a look-alike label before the domain', 'evil-eu.qlikcloud.com'],
    ['a look-alike domain without the dot', 'xeu.qlikcloud.com'],
    ['nested labels', 'a.b.eu.qlikcloud.com'],
    ['the register host', 'register.eu.qlikcloud.com'],
    ['the register host in capitals', 'REGISTER.eu.qlikcloud.com'],
    ['an IPv4 literal', '10.0.0.1'],
    ['an IPv4 literal label', '10.0.0.1.eu.qlikcloud.com'],
    ['an IPv6 literal', '[::1]'],
    ['a bare IPv6 literal', '::1'],
    ['a port', 'acme.eu.qlikcloud.com:443'],
    ['userinfo', 'a@acme.eu.qlikcloud.com'],
    ['userinfo pointing elsewhere', 'acme.eu.qlikcloud.com@evil.com'],
    ['an encoded slash', 'acme%2F.eu.qlikcloud.com'],
    ['an encoded slash id', 'acme%2Fx'],
    ['a dot-dot', '..'],
    ['a dot-dot label', '...eu.qlikcloud.com'],
    ['an empty label', 'acme..eu.qlikcloud.com'],
    ['a backslash', 'acme\\.eu.qlikcloud.com'],
    ['a slash', 'acme/x.eu.qlikcloud.com'],
    ['a label starting with a dash', '-acme.eu.qlikcloud.com'],
    ['a label ending with a dash', 'acme-.eu.qlikcloud.com'],
    ['a label over 63 characters', `${'a'.repeat(64)}.eu.qlikcloud.com`],
    ['an id over 64 characters', 'x'.repeat(65)],
    ['an underscore in a hostname label', 'ac_me.eu.qlikcloud.com'],
    ['whitespace', ' acme.eu.qlikcloud.com'],
    ['a NUL byte', 'acme\u0000.eu.qlikcloud.com'],
    ['a non-ASCII label', 'äcme.eu.qlikcloud.com'],
    ['two trailing dots', 'acme.eu.qlikcloud.com..']
  ] as const) {
    await it(`refuses a reference with QB_INVALID_TENANT when it is ${label}`, () => {
      const error = refused(value)
      assert.equal(error.code, 'QB_INVALID_TENANT')
      assert.equal(error.statusCode, 400)
      assert.deepEqual(error.issues, [{ pointer: '/params/tenant', message: 'expected a tenant id or <name>.eu.qlikcloud.com' }])
    })
  }

  await it('prints only printable ASCII of the reference, cut to 80 characters, when refusing it', () => {
    const error = refused(`\u0000\u001b[31m${'.'.repeat(200)}`)
    assert.doesNotMatch(error.message, /[^\x20-\x7e]/)
    const quoted = /^"([^"]*)"/.exec(error.message)?.[1] ?? ''
    assert.equal(quoted.length, 80)
    assert.ok(quoted.endsWith('...'))
  })

  await it('accepts hosts of the region\'s own tenant domain when the domain is configured', () => {
    const lab = regionConfig('lab', { tenantDomain: 'lab.example.com' })
    assert.deepEqual(parseTenantReference('acme.lab.example.com', lab), { kind: 'hostname', hostname: 'acme.lab.example.com' })
    assert.throws(() => parseTenantReference('acme.lab.qlikcloud.com', lab), BrokerError)
  })
})

await describe('checkTenantHost', async () => {
  await it('returns the hostname when it is one label under the tenant domain', () => {
    assert.equal(checkTenantHost('acme.eu.qlikcloud.com', EU), 'acme.eu.qlikcloud.com')
  })

  await it('returns undefined when the hostname is not lowercase', () => {
    assert.equal(checkTenantHost('ACME.eu.qlikcloud.com', EU), undefined)
  })

  await it('returns undefined when the hostname is the register host or outside the domain', () => {
    assert.equal(checkTenantHost('register.eu.qlikcloud.com', EU), undefined)
    assert.equal(checkTenantHost('acme.eu.qlikcloud.com.evil.com', EU), undefined)
    assert.equal(checkTenantHost('.eu.qlikcloud.com', EU), undefined)
  })
})
