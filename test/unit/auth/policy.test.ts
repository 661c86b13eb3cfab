import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Caller } from '../../../src/auth/caller.js'
import { allowsOnEveryTenant, evaluatePolicy, mayAllowForSomeTenant, type PolicyRequest } from '../../../src/auth/policy.js'
import { DEFAULT_REGIONS, GrantSchema, TENANT_ACTIONS, type TenantAction } from '../../../src/config/schema.js'

/** A caller whose grants are parsed as the configuration parses them (defaults filled in). */
function callerWith (...grants: unknown[]): Caller {
  return { name: 'svc', via: 'api-key', grants: grants.map((grant) => GrantSchema.parse(grant)) }
}

function action (region: string, name: TenantAction, tenants: readonly string[] = ['t-1']): PolicyRequest {
  return { kind: 'action', region, action: name, tenants }
}

function tenantApi (region: string, method: string, path: string, tenants: readonly string[] = ['t-1']): PolicyRequest {
  return { kind: 'tenant-api', region, method, path, tenants }
}

await describe('evaluatePolicy', async () => {
  await describe('default deny', async () => {
    await it('denies with a reason naming caller, action, region and tenant when the caller has no grant', () => {
      const decision = evaluatePolicy(callerWith(), action('eu', 'tenants:read', ['t-9']))
      assert.deepEqual(decision, { allowed: false, reason: 'no grant of caller "svc" allows tenants:read in region "eu" on tenant "t-9"' })
    })

    await it('denies a tenant-api call naming method and path when no grant has tenantApi rules', () => {
      const decision = evaluatePolicy(callerWith({ regions: '*', actions: [...TENANT_ACTIONS] }), tenantApi('eu', 'GET', '/api/v1/users'))
      assert.equal(decision.allowed, false)
      assert.match(decision.reason, /allows GET \/api\/v1\/users in region "eu"/)
    })

    await it('denies a lifecycle action when the only grant has tenantApi rules', () => {
      assert.equal(evaluatePolicy(callerWith({ regions: '*', tenantApi: ['* /api/v1/**'] }), action('eu', 'tenants:read')).allowed, false)
    })

    await it('omits the tenant from the reason when the request names none', () => {
      assert.equal(evaluatePolicy(callerWith(), action('eu', 'tenants:create', [])).reason, 'no grant of caller "svc" allows tenants:create in region "eu"')
    })
  })

  await describe('regions', async () => {
    await it('allows every region when the grant says *', () => {
      const caller = callerWith({ regions: '*', actions: ['tenants:read'] })
      for (const region of [...DEFAULT_REGIONS, 'lab']) assert.equal(evaluatePolicy(caller, action(region, 'tenants:read')).allowed, true, region)
    })

    await it('allows only the listed regions when the grant lists some', () => {
      const caller = callerWith({ regions: ['eu', 'jp'], actions: ['tenants:read'] })
      assert.equal(evaluatePolicy(caller, action('eu', 'tenants:read')).allowed, true)
      assert.equal(evaluatePolicy(caller, action('jp', 'tenants:read')).allowed, true)
      for (const region of ['us', 'de', 'EU', 'e', '*']) assert.equal(evaluatePolicy(caller, action(region, 'tenants:read')).allowed, false, region)
    })
  })

  await describe('tenant scope', async () => {
    const scoped = callerWith({ regions: '*', actions: ['tenants:read', 'tenants:update', 'tenants:create'], tenants: ['t-1', 'Acme.EU.qlikcloud.com'] })

    await it('allows a listed tenant id when the grant lists tenants', () => {
      assert.equal(evaluatePolicy(scoped, action('eu', 'tenants:read', ['t-1'])).allowed, true)
    })

    await it('allows a listed hostname whatever its case when the grant lists tenants', () => {
      assert.equal(evaluatePolicy(scoped, action('eu', 'tenants:update', ['x-2', 'acme.eu.QLIKCLOUD.com'])).allowed, true)
      assert.equal(evaluatePolicy(scoped, action('eu', 'tenants:update', ['ACME.EU.QLIKCLOUD.COM'])).allowed, true)
    })

    await it('compares tenant ids exactly, case included, when the grant lists them', () => {
      assert.equal(evaluatePolicy(scoped, action('eu', 'tenants:read', ['t-10'])).allowed, false)
      assert.equal(evaluatePolicy(scoped, action('eu', 'tenants:read', ['t'])).allowed, false)
      assert.equal(evaluatePolicy(scoped, action('eu', 'tenants:read', ['T-1'])).allowed, false)
    })

    await it('does not let a grant on AcmeTenant01 allow acmetenant01 (Qlik ids are case-sensitive; issue 10 §3)', () => {
      const acme = callerWith({ regions: ['eu'], actions: ['tenants:read'], tenants: ['AcmeTenant01'] })
      assert.equal(evaluatePolicy(acme, action('eu', 'tenants:read', ['AcmeTenant01'])).allowed, true)
      assert.equal(evaluatePolicy(acme, action('eu', 'tenants:read', ['acmetenant01'])).allowed, false)
      assert.equal(evaluatePolicy(acme, action('eu', 'tenants:read', ['ACMETENANT01'])).allowed, false)
    })

    await it('treats a hostname with a trailing dot as the same host', () => {
      assert.equal(evaluatePolicy(scoped, action('eu', 'tenants:read', ['acme.eu.qlikcloud.com.'])).allowed, true)
    })

    await it('denies a tenant none of whose names is listed when the grant lists tenants', () => {
      assert.equal(evaluatePolicy(scoped, action('eu', 'tenants:read', ['t-2', 'other.eu.qlikcloud.com'])).allowed, false)
      assert.equal(evaluatePolicy(scoped, action('eu', 'tenants:read', [])).allowed, false)
    })

    await it('allows any tenant when the grant says *', () => {
      const open = callerWith({ regions: '*', actions: ['tenants:read'] })
      assert.equal(evaluatePolicy(open, action('eu', 'tenants:read', ['anything'])).allowed, true)
      assert.equal(evaluatePolicy(open, action('eu', 'tenants:read', [])).allowed, true)
    })

    await it('denies tenants:create when the grant lists tenants, even a listed one', () => {
      assert.equal(evaluatePolicy(scoped, action('eu', 'tenants:create', [])).allowed, false)
      assert.equal(evaluatePolicy(scoped, action('eu', 'tenants:create', ['t-1'])).allowed, false)
    })

    await it('allows tenants:create when the grant covers all tenants', () => {
      assert.equal(evaluatePolicy(callerWith({ regions: ['eu'], actions: ['tenants:create'] }), action('eu', 'tenants:create', [])).allowed, true)
    })
  })

  await describe('grants in order', async () => {
    await it('names the first grant that allows when several grants could', () => {
      const caller = callerWith(
        { regions: ['us'], actions: ['tenants:read'] },
        { regions: ['eu'], actions: ['tenants:read'], tenants: ['t-1'] },
        { regions: '*', actions: ['tenants:read'] }
      )
      assert.deepEqual(evaluatePolicy(caller, action('eu', 'tenants:read', ['t-1'])), { allowed: true, grantIndex: 1, reason: 'grant #2' })
      assert.deepEqual(evaluatePolicy(caller, action('eu', 'tenants:read', ['t-2'])), { allowed: true, grantIndex: 2, reason: 'grant #3' })
    })

    await it('does not combine region of one grant with action of another when neither covers both', () => {
      const caller = callerWith({ regions: ['eu'], actions: ['tenants:read'] }, { regions: ['us'], actions: ['tenants:deactivate'] })
      assert.equal(evaluatePolicy(caller, action('eu', 'tenants:deactivate')).allowed, false)
      assert.equal(evaluatePolicy(caller, action('us', 'tenants:read')).allowed, false)
    })
  })

  await describe('tenant-api methods and paths', async () => {
    const caller = callerWith({ regions: ['eu'], tenantApi: ['GET|POST /api/v1/users/**', '* /api/v1/spaces/{spaceId}', 'DELETE /api/v1/items/*'] })

    for (const method of ['GET', 'POST']) {
      await it(`allows ${method} when the rule lists GET|POST`, () => {
        assert.equal(evaluatePolicy(caller, tenantApi('eu', method, '/api/v1/users/me')).allowed, true)
      })
    }

    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      await it(`denies ${method} when the rule lists only GET|POST`, () => {
        assert.equal(evaluatePolicy(caller, tenantApi('eu', method, '/api/v1/users/me')).allowed, false)
      })
    }

    await it('allows every method when the rule says *', () => {
      for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']) {
        assert.equal(evaluatePolicy(caller, tenantApi('eu', method, '/api/v1/spaces/s1')).allowed, true, method)
      }
    })

    await it('treats HEAD as GET when the rule allows GET', () => {
      assert.equal(evaluatePolicy(caller, tenantApi('eu', 'HEAD', '/api/v1/users')).allowed, true)
    })

    await it('denies HEAD when the rule allows neither GET nor HEAD', () => {
      assert.equal(evaluatePolicy(caller, tenantApi('eu', 'HEAD', '/api/v1/items/i1')).allowed, false)
    })

    await it('allows HEAD when the rule names HEAD itself', () => {
      const headOnly = callerWith({ regions: '*', tenantApi: ['HEAD /api/v1/users'] })
      assert.equal(evaluatePolicy(headOnly, tenantApi('eu', 'HEAD', '/api/v1/users')).allowed, true)
    })

    await it('denies a path outside every rule when the method would be allowed', () => {
      assert.equal(evaluatePolicy(caller, tenantApi('eu', 'GET', '/api/v1/spaces/s1/members')).allowed, false)
      assert.equal(evaluatePolicy(caller, tenantApi('eu', 'GET', '/api/v1/usersx')).allowed, false)
      assert.equal(evaluatePolicy(caller, tenantApi('eu', 'DELETE', '/api/v1/items')).allowed, false)
    })

    await it('denies a covered path in a region the grant does not list', () => {
      assert.equal(evaluatePolicy(caller, tenantApi('us', 'GET', '/api/v1/users')).allowed, false)
    })

    await it('applies the tenant scope to tenant-api calls when the grant lists tenants', () => {
      const scoped = callerWith({ regions: '*', tenantApi: ['GET /api/v1/**'], tenants: ['acme.eu.qlikcloud.com'] })
      assert.equal(evaluatePolicy(scoped, tenantApi('eu', 'GET', '/api/v1/users', ['t-1', 'ACME.eu.qlikcloud.com'])).allowed, true)
      assert.equal(evaluatePolicy(scoped, tenantApi('eu', 'GET', '/api/v1/users', ['t-2', 'other.eu.qlikcloud.com'])).allowed, false)
    })

    await it('keeps the same answer when one grant is evaluated repeatedly', () => {
      for (let round = 0; round < 3; round++) {
        assert.equal(evaluatePolicy(caller, tenantApi('eu', 'GET', '/api/v1/users/1')).allowed, true)
        assert.equal(evaluatePolicy(caller, tenantApi('eu', 'PUT', '/api/v1/users/1')).allowed, false)
      }
    })
  })
})

await describe('mayAllowForSomeTenant', async () => {
  const scoped = callerWith({ regions: ['eu'], actions: ['tenants:read'], tenantApi: ['GET /api/v1/users/**'], tenants: ['t-1'] })

  await it('answers true when a tenant-scoped grant covers region, method and path', () => {
    assert.equal(mayAllowForSomeTenant(scoped, tenantApi('eu', 'GET', '/api/v1/users', [])), true)
    assert.equal(mayAllowForSomeTenant(scoped, action('eu', 'tenants:read', [])), true)
  })

  await it('answers false when no grant covers the region', () => {
    assert.equal(mayAllowForSomeTenant(scoped, tenantApi('us', 'GET', '/api/v1/users', [])), false)
  })

  await it('answers false when no grant covers the method or the path', () => {
    assert.equal(mayAllowForSomeTenant(scoped, tenantApi('eu', 'POST', '/api/v1/users', [])), false)
    assert.equal(mayAllowForSomeTenant(scoped, tenantApi('eu', 'GET', '/api/v1/spaces', [])), false)
  })

  await it('answers false when no grant has the action', () => {
    assert.equal(mayAllowForSomeTenant(scoped, action('eu', 'tenants:deactivate', [])), false)
  })

  await it('answers true when an all-tenants grant covers the request', () => {
    assert.equal(mayAllowForSomeTenant(callerWith({ regions: '*', tenantApi: ['* /api/v1/**'] }), tenantApi('jp', 'DELETE', '/api/v1/x', [])), true)
  })

  await it('answers false for tenants:create when the only grant lists tenants', () => {
    const creator = callerWith({ regions: '*', actions: ['tenants:create'], tenants: ['t-1'] })
    assert.equal(mayAllowForSomeTenant(creator, action('eu', 'tenants:create', [])), false)
  })
})

await describe('allowsOnEveryTenant', async () => {
  const callers = [
    callerWith({ regions: ['eu'], actions: ['tenants:read', 'tenants:create'], tenantApi: ['GET /api/v1/users/**'] }),
    callerWith({ regions: '*', actions: ['tenants:read'], tenantApi: ['GET /api/v1/users/**'], tenants: ['t-1', 'acme.eu.qlikcloud.com'] }),
    callerWith({ regions: '*', actions: ['tenants:read'], tenantApi: ['* /api/v1/**'], tenants: 'created' }),
    callerWith({ regions: ['jp'], tenantApi: ['* /api/v1/**'], tenants: ['t-1'] }, { regions: ['eu'], actions: ['tenants:create'], tenantApi: ['GET /api/v1/spaces'] })
  ]
  const calls: PolicyRequest[] = [
    tenantApi('eu', 'GET', '/api/v1/users/me', []), tenantApi('eu', 'POST', '/api/v1/users', []), tenantApi('jp', 'GET', '/api/v1/spaces', []),
    tenantApi('eu', 'GET', '/api/v1/spaces', []), action('eu', 'tenants:read', []), action('eu', 'tenants:create', []), action('us', 'tenants:read', [])
  ]
  const targets: Array<{ tenants: string[], createdByCaller: boolean }> = [
    { tenants: ['t-1'], createdByCaller: false }, { tenants: ['t-2', 'other.eu.qlikcloud.com'], createdByCaller: false },
    { tenants: ['ACME.eu.qlikcloud.com.'], createdByCaller: false }, { tenants: ['t-3'], createdByCaller: true }, { tenants: [], createdByCaller: false }
  ]

  await it('says yes only where evaluatePolicy allows the call on every tenant, named or not, created by the caller or not', () => {
    const yes: string[] = []
    callers.forEach((caller, callerIndex) => {
      calls.forEach((call, callIndex) => {
        if (!allowsOnEveryTenant(caller, call)) return
        yes.push(`${callerIndex}:${callIndex}`)
        assert.deepEqual(targets.map((target) => evaluatePolicy(caller, { ...call, ...target }).allowed), targets.map(() => true), `caller ${callerIndex}, ${JSON.stringify(call)}`)
      })
    })
    // The all-tenants grants: caller 0's (users, read, create in eu) and caller 3's second (GET spaces, create in eu).
    assert.deepEqual(yes, ['0:0', '0:4', '0:5', '3:3', '3:5'])
  })

  await it('says no for a caller whose grants list tenants or say created, even where they allow this tenant', () => {
    assert.equal(evaluatePolicy(callers[1] as Caller, tenantApi('eu', 'GET', '/api/v1/users/me', ['t-1'])).allowed, true)
    assert.equal(allowsOnEveryTenant(callers[1] as Caller, tenantApi('eu', 'GET', '/api/v1/users/me', [])), false)
    assert.equal(allowsOnEveryTenant(callers[2] as Caller, action('eu', 'tenants:read', [])), false)
  })
})

await describe('evaluatePolicy: generated matrix', async () => {
  const regionsVariants: ReadonlyArray<'*' | readonly string[]> = ['*', ['eu'], ['eu', 'jp']]
  const actionVariants: ReadonlyArray<readonly TenantAction[]> = [['tenants:read'], ['tenants:create', 'tenants:update'], TENANT_ACTIONS]
  const tenantVariants: ReadonlyArray<'*' | readonly string[]> = ['*', ['t-1', 'Acme.eu.qlikcloud.com']]
  const targets: ReadonlyArray<readonly string[]> = [['t-1'], ['T-1'], ['t-2'], ['t-2', 'acme.eu.qlikcloud.com'], ['t-3', 'other.eu.qlikcloud.com'], []]
  const regions = [...DEFAULT_REGIONS, 'lab']

  function expected (grant: { regions: '*' | readonly string[], actions: readonly TenantAction[], tenants: '*' | readonly string[] }, region: string, name: TenantAction, tenants: readonly string[]): boolean {
    if (grant.regions !== '*' && !grant.regions.includes(region)) return false
    if (!grant.actions.includes(name)) return false
    if (grant.tenants === '*') return true
    if (name === 'tenants:create') return false
    // Hostnames compare without case, ids exactly.
    const key = (tenant: string): string => (tenant.includes('.') ? tenant.toLowerCase() : tenant)
    const listed = new Set(grant.tenants.map(key))
    return tenants.some((tenant) => listed.has(key(tenant)))
  }

  await it('denies every cell outside the grant and allows every cell inside it for callers × regions × actions × tenant scopes', () => {
    const mismatches: string[] = []
    let allowed = 0
    let denied = 0
    for (const grantRegions of regionsVariants) {
      for (const actions of actionVariants) {
        for (const tenants of tenantVariants) {
          const grant = { regions: grantRegions, actions, tenants }
          const caller = callerWith({ regions: grantRegions === '*' ? '*' : [...grantRegions], actions: [...actions], tenants: tenants === '*' ? '*' : [...tenants] })
          for (const region of regions) {
            for (const name of TENANT_ACTIONS) {
              for (const target of targets) {
                const want = expected(grant, region, name, target)
                const got = evaluatePolicy(caller, action(region, name, target)).allowed
                if (want) allowed++
                else denied++
                if (got !== want) mismatches.push(`${JSON.stringify(grant)} ${region} ${name} ${JSON.stringify(target)}: got ${String(got)}`)
                const outside = (grant.regions !== '*' && !grant.regions.includes(region)) || !grant.actions.includes(name)
                if (outside && mayAllowForSomeTenant(caller, action(region, name, target))) {
                  mismatches.push(`mayAllowForSomeTenant ${JSON.stringify(grant)} ${region} ${name}: true outside the grant`)
                }
              }
            }
          }
        }
      }
    }
    assert.deepEqual(mismatches, [])
    assert.ok(denied > 2000 && allowed > 200, `the matrix exercises both sides (allowed ${allowed}, denied ${denied})`)
  })

  await it('denies every method and path outside a tenant-api grant for regions × methods × paths × tenant scopes', () => {
    const paths: ReadonlyArray<readonly [string, boolean]> = [
      ['/api/v1/users', true],
      ['/api/v1/users/', true],
      ['/api/v1/users/u1', true],
      ['/api/v1/users/u1/roles', true],
      ['/api/v1/usersx', false],
      ['/api/v1/spaces', false],
      ['/api/v1/spaces/users', false],
      ['/api/v1', false]
    ]
    const allowedMethods = new Set(['GET', 'HEAD', 'POST'])
    const mismatches: string[] = []
    for (const tenants of tenantVariants) {
      const caller = callerWith({ regions: ['eu', 'jp'], tenantApi: ['GET|POST /api/v1/users/**'], tenants: tenants === '*' ? '*' : [...tenants] })
      for (const region of regions) {
        for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']) {
          for (const [path, covered] of paths) {
            for (const target of targets) {
              const tenantOk = tenants === '*' || target.some((name) => name === 't-1' || name.toLowerCase() === 'acme.eu.qlikcloud.com')
              const want = ['eu', 'jp'].includes(region) && allowedMethods.has(method) && covered && tenantOk
              const got = evaluatePolicy(caller, tenantApi(region, method, path, target)).allowed
              if (got !== want) mismatches.push(`${JSON.stringify(tenants)} ${region} ${method} ${path} ${JSON.stringify(target)}: got ${String(got)}`)
            }
          }
        }
      }
    }
    assert.deepEqual(mismatches, [])
  })
})
