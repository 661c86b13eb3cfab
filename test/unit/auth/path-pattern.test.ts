import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { compilePathPattern } from '../../../src/auth/path-pattern.js'

const cases: Array<{ pattern: string, matches: string[], refuses: string[] }> = [
  {
    pattern: '/api/v1/users',
    matches: ['/api/v1/users', '/api/v1/users/'],
    refuses: ['/api/v1/users/x', '/api/v1/user', '/api/v1/usersx', '/api/v1', '/x/api/v1/users', '/api/v1/users//']
  },
  {
    pattern: '/api/v1/users/*',
    matches: ['/api/v1/users/abc', '/api/v1/users/abc/', '/api/v1/users/me'],
    refuses: ['/api/v1/users', '/api/v1/users/', '/api/v1/users/a/b', '/api/v1/usersx/a']
  },
  {
    pattern: '/api/v1/users/{userId}',
    matches: ['/api/v1/users/abc', '/api/v1/users/abc/'],
    refuses: ['/api/v1/users', '/api/v1/users/a/b', '/api/v1/users/{userId}/x']
  },
  {
    pattern: '/api/v1/users/**',
    matches: ['/api/v1/users', '/api/v1/users/', '/api/v1/users/a', '/api/v1/users/a/b/c', '/api/v1/users/a/b/c/'],
    refuses: ['/api/v1/usersx', '/api/v1/usersx/a', '/api/v1/spaces', '/api/v1']
  },
  {
    pattern: '/api/v1/**/actions/export',
    matches: ['/api/v1/actions/export', '/api/v1/apps/actions/export', '/api/v1/apps/a1/actions/export', '/api/v1/a/b/c/actions/export/'],
    refuses: ['/api/v1/apps/actions/export/x', '/api/v1/apps/actions', '/api/v1/apps/xactions/export', '/api/v1/apps/actions/exports']
  },
  {
    pattern: '/api/v1/*/spaces',
    matches: ['/api/v1/a/spaces'],
    refuses: ['/api/v1/spaces', '/api/v1/a/b/spaces', '/api/v1//spaces']
  },
  {
    pattern: '/api/v1/items/app-*',
    matches: ['/api/v1/items/app-', '/api/v1/items/app-123'],
    refuses: ['/api/v1/items/x-app-1', '/api/v1/items/app-1/x', '/api/v1/items/app']
  },
  {
    pattern: '/api/v1/data.files/a+b(1)$',
    matches: ['/api/v1/data.files/a+b(1)$'],
    refuses: ['/api/v1/dataXfiles/a+b(1)$', '/api/v1/data.files/aab(1)$', '/api/v1/data.files/a+b1', '/api/v1/data.files/a+b(1)']
  },
  {
    pattern: '/api/v1/users/',
    matches: ['/api/v1/users', '/api/v1/users/'],
    refuses: ['/api/v1/users/x']
  }
]

await describe('compilePathPattern', async () => {
  for (const { pattern, matches, refuses } of cases) {
    const match = compilePathPattern(pattern)
    for (const path of matches) {
      await it(`matches ${path} when the pattern is ${pattern}`, () => {
        assert.equal(match(path), true)
      })
    }
    for (const path of refuses) {
      await it(`does not match ${path} when the pattern is ${pattern}`, () => {
        assert.equal(match(path), false)
      })
    }
  }
})
