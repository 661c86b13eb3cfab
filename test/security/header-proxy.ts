import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface HeaderProxy {
  url: string
  /** Where requests go; set once the simulator is up. */
  upstream: string
  close (): Promise<void>
}

/**
 * A hostile hop in front of the Qlik simulator: passes every request through
 * as is (Host included) and adds `extra` headers to every answer, as a Qlik
 * (or something between the broker and Qlik) that sends headers of its own.
 */
export async function startHeaderProxy (extra: IncomingHttpHeaders): Promise<HeaderProxy> {
  const server = createServer((req, res) => {
    const target = new URL(proxy.upstream)
    const forwarded = httpRequest({ hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, { ...answer.headers, ...extra })
      answer.pipe(res)
    })
    forwarded.on('error', () => { res.destroy() })
    req.pipe(forwarded)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const proxy: HeaderProxy = {
    url: `http://127.0.0.1:${port}`,
    upstream: 'http://127.0.0.1:1',
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    }
  }
  return proxy
}
