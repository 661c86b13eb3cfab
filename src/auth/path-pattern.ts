/**
 * Compiles a tenant-api path pattern: `*` (or `{name}`) matches one path
 * segment, `**` any number of segments, including none.
 */
export function compilePathPattern (pattern: string): (path: string) => boolean {
  const segments = pattern.replace(/\/+$/, '').split('/').slice(1)
  const source = segments.map((segment, index) => {
    if (segment === '**') return index === segments.length - 1 ? '(?:/[^/]+)*/?' : '(?:/[^/]+)*'
    if (segment === '*' || /^\{[^}]+\}$/.test(segment)) return '/[^/]+'
    return '/' + segment.split('*').map(escapeRegExp).join('[^/]*')
  }).join('')
  const regex = new RegExp(`^${source}/?$`)
  return (path) => regex.test(path)
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
