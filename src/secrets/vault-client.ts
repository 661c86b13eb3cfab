import createNodeVault from 'node-vault'
import { VaultRequestError } from './vault-errors.js'

/**
 * A typed, stateless face on node-vault 0.12: the caller passes the token on
 * every call and gets parsed results or a scrubbed `VaultRequestError`.
 *
 * node-vault's own state is kept out of the way on purpose
 * (docs/reference/vault-api.md §6.6): `client.token` is emptied after every
 * call so a stale token is never sent implicitly, no headers are set at
 * construction (they would pin the first token), `kubernetesLogin` always
 * gets `mount_point`, and its `debug` hook is a no-op so `DEBUG=node-vault`
 * cannot print a JWT or a secret_id.
 */

export interface VaultClientOptions {
  address: string
  namespace?: string
  /** node-vault (axios) has no default timeout: a hung Vault would hang us. */
  requestTimeoutMs: number
  caCertPem?: string
}

export interface VaultLoginResult {
  clientToken: string
  leaseSeconds: number
  renewable: boolean
}

export interface VaultRenewResult extends VaultLoginResult {
  warnings: string[]
}

export interface VaultTokenInfo {
  /** Seconds left; 0 for a token that never expires. */
  ttlSeconds: number
  renewable: boolean
}

export interface VaultClient {
  /** GET `/v1/<path>`; resolves with the envelope's `data`. */
  read (path: string, token: string): Promise<unknown>
  approleLogin (input: { mount: string, roleId: string, secretId: string }): Promise<VaultLoginResult>
  kubernetesLogin (input: { mount: string, role: string, jwt: string }): Promise<VaultLoginResult>
  renewSelf (token: string): Promise<VaultRenewResult>
  lookupSelf (token: string): Promise<VaultTokenInfo>
}

type NodeVaultClient = ReturnType<typeof createNodeVault>

export function createVaultClient (options: VaultClientOptions): VaultClient {
  const vault: NodeVaultClient = createNodeVault({
    endpoint: options.address,
    requestOptions: {
      timeout: options.requestTimeoutMs,
      strictSSL: true,
      ...(options.caCertPem === undefined ? {} : { ca: options.caCertPem })
    },
    debug: () => undefined
  })
  // The broker's configuration is explicit: VAULT_TOKEN, VAULT_NAMESPACE and
  // VAULT_PREFIX from the environment (node-vault's fallbacks) must not apply;
  // strictSSL above does the same for VAULT_SKIP_VERIFY.
  Object.assign(vault, { token: '', namespace: options.namespace ?? '', pathPrefix: '' })

  async function call (sensitive: string[], run: () => Promise<unknown>): Promise<unknown> {
    try {
      try {
        return await run()
      } catch (err) {
        // A keep-alive socket that Vault closed (restart, idle timeout) fails
        // the next request at once; every call here is safe to send again.
        if (!isRecord(err) || err['code'] !== 'ECONNRESET') throw err
        return await run()
      }
    } catch (err) {
      throw toVaultRequestError(err, sensitive, options.requestTimeoutMs)
    } finally {
      // Login and renew commands store the new token on the client; we keep our own.
      vault.token = ''
    }
  }

  const withToken = (token: string): { headers: Record<string, string> } => ({ headers: { 'X-Vault-Token': token } })

  return {
    async read (path, token) {
      const body = await call([token], () => vault.read(encodePath(path), withToken(token)))
      return isRecord(body) ? body['data'] : undefined
    },

    async approleLogin ({ mount, roleId, secretId }) {
      const body = await call([secretId, roleId], () => vault.approleLogin({
        mount_point: mount,
        role_id: roleId,
        secret_id: secretId,
        requestOptions: { headers: {} }
      }))
      return parseAuth(body)
    },

    async kubernetesLogin ({ mount, role, jwt }) {
      const body = await call([jwt], () => vault.kubernetesLogin({
        mount_point: mount,
        role,
        jwt,
        requestOptions: { headers: {} }
      }))
      return parseAuth(body)
    },

    async renewSelf (token) {
      // No increment: Vault renews by the token's own TTL, capped at its max TTL.
      const body = await call([token], () => vault.tokenRenewSelf({ requestOptions: withToken(token) }))
      const warnings = isRecord(body) && Array.isArray(body['warnings'])
        ? body['warnings'].filter((w): w is string => typeof w === 'string')
        : []
      return { ...parseAuth(body), warnings }
    },

    async lookupSelf (token) {
      const body = await call([token], () => vault.tokenLookupSelf({ requestOptions: withToken(token) }))
      const data = isRecord(body) ? body['data'] : undefined
      if (!isRecord(data)) throw new VaultRequestError({ code: 'EBADRESPONSE', message: 'Vault token lookup reply has no data' })
      return {
        ttlSeconds: typeof data['ttl'] === 'number' ? data['ttl'] : 0,
        renewable: data['renewable'] === true
      }
    }
  }
}

function parseAuth (body: unknown): VaultLoginResult {
  const auth = isRecord(body) ? body['auth'] : undefined
  if (!isRecord(auth) || typeof auth['client_token'] !== 'string' || auth['client_token'] === '') {
    throw new VaultRequestError({ code: 'EBADRESPONSE', message: 'Vault reply has no auth.client_token' })
  }
  return {
    clientToken: auth['client_token'],
    leaseSeconds: typeof auth['lease_duration'] === 'number' ? auth['lease_duration'] : 0,
    renewable: auth['renewable'] === true
  }
}

function toVaultRequestError (err: unknown, sensitive: string[], timeoutMs: number): VaultRequestError {
  if (err instanceof VaultRequestError) return err
  if (!isRecord(err)) return new VaultRequestError({ code: 'EUNKNOWN' })

  // node-vault's ApiResponseError (not exported, so duck-typed): Vault answered.
  const response = err['response']
  if (isRecord(response) && typeof response['statusCode'] === 'number') {
    const body = response['body']
    const listed = isRecord(body) && Array.isArray(body['errors']) ? body['errors'] : []
    const vaultErrors = listed
      .filter((e): e is string => typeof e === 'string')
      .map((e) => scrub(flattenMultiError(e), sensitive))
    const status = response['statusCode']
    const data = status === 404 && isRecord(body) ? body['data'] : undefined
    return new VaultRequestError({ status, vaultErrors, data })
  }

  // AxiosError: Vault was not reached. axios reports its own timeout as ECONNABORTED.
  const code = err['code']
  if (typeof code === 'string') {
    const timedOut = code === 'ECONNABORTED' && /timeout/i.test(String(err['message']))
    return new VaultRequestError({ code: timedOut ? `ETIMEDOUT after ${timeoutMs} ms` : code })
  }

  // tv4 rejects bad command arguments before any request is sent.
  return new VaultRequestError({ code: 'EINVALIDREQUEST', message: 'node-vault refused the request arguments' })
}

/** Vault formats several errors as "2 errors occurred:\n\t* a\n\t* b\n\n". */
function flattenMultiError (message: string): string {
  const items = [...message.matchAll(/^\t\* (.+)$/gm)].map((m) => m[1])
  return items.length > 0 ? items.join('; ') : message.trim()
}

function scrub (text: string, sensitive: string[]): string {
  return sensitive.reduce((out, value) => (value === '' ? out : out.split(value).join('[redacted]')), text)
}

/** node-vault puts the path into the URL as given: encode each segment ourselves. */
function encodePath (path: string): string {
  return path.split('/').map(encodeURIComponent).join('/')
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
