import { parseArgs } from 'node:util'

/**
 * `qlik-broker bot-users plan|apply|status`: drives a running broker's
 * bot-user migration API (issue 11) from a terminal. The caller's broker
 * credential comes from QB_KEY, never from the command line (shell history,
 * process lists).
 */
export const BOT_USERS_USAGE = `usage: qlik-broker bot-users <plan|apply|status> --region <code> [options]

  plan     list what the old bot users own and how each item would move (changes nothing)
  apply    start a migration job and follow it to the end
  status   follow an existing job: --job <id>

options:
  --region <code>     region, e.g. eu (required)
  --tenant <t>        tenant id or hostname; repeat for several (default: every tenant in the broker's registry)
  --delete <kind>     delete this kind instead of moving it (app, space, data-file, automation,
                      automation-connection); repeatable
  --job <id>          the job to follow (status)
  --broker <url>      the broker (default $QB_BROKER_URL or http://localhost:8080)
  --json              print the broker's JSON answer instead of tables

environment:
  QB_KEY              the broker credential (API key or JWT) of a caller with bot-users:migrate
`

export interface CliIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  env: Record<string, string | undefined>
  fetch: typeof fetch
  sleep: (ms: number) => Promise<void>
  /** Draw a progress bar in place (a terminal); else print a line when progress changes. */
  tty: boolean
  pollMs?: number
}

export const EXIT = { ok: 0, failed: 1, usage: 64, unavailable: 69 } as const

interface JobTenant { tenant: string, host: string, phase: string, found: number, moved: number, failed: number, remaining: number, failures: Array<{ kind: string, id: string, error: string }>, error?: string }
interface JobView { id: string, status: string, totals: { found: number, moved: number, failed: number, remaining: number }, etaSeconds: number, tenants: JobTenant[], notes: string[] }
interface PlanView { totals: { tenants: number, items: number }, tenants: Array<{ tenant: string, host: string, inactiveBotUsers: Array<{ subject: string }>, items: Array<{ kind: string, id: string, name: string, from: string, to?: string, action: string, call: { method: string, path: string } }>, notes: string[] }> }

class CliFailure extends Error {
  readonly exitCode: number
  constructor (message: string, exitCode: number) {
    super(message)
    this.exitCode = exitCode
  }
}

export async function runBotUsers (args: readonly string[], io: CliIo): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        region: { type: 'string' },
        tenant: { type: 'string', multiple: true },
        delete: { type: 'string', multiple: true },
        job: { type: 'string' },
        broker: { type: 'string' },
        json: { type: 'boolean', default: false }
      }
    })
  } catch (error) {
    io.stderr(`qlik-broker bot-users: ${(error as Error).message}\n\n${BOT_USERS_USAGE}`)
    return EXIT.usage
  }
  const [action] = parsed.positionals
  const { region, job: jobId } = parsed.values
  const key = io.env.QB_KEY
  const problems = [
    ...(action === 'plan' || action === 'apply' || action === 'status' ? [] : ['say plan, apply or status']),
    ...(region === undefined || !/^[a-z][a-z0-9-]{0,30}$/.test(region) ? ['--region <code> is required (lowercase, e.g. eu)'] : []),
    ...(action === 'status' && jobId === undefined ? ['status needs --job <id>'] : []),
    ...(key === undefined || key === '' ? ['set QB_KEY to the broker credential of a caller with bot-users:migrate'] : [])
  ]
  if (problems.length > 0 || region === undefined || key === undefined) {
    io.stderr(`qlik-broker bot-users: ${problems.join('; ')}\n\n${BOT_USERS_USAGE}`)
    return EXIT.usage
  }
  const base = (parsed.values.broker ?? io.env.QB_BROKER_URL ?? 'http://localhost:8080').replace(/\/+$/, '')
  const body = { ...(parsed.values.tenant === undefined ? {} : { tenants: parsed.values.tenant }), ...(parsed.values.delete === undefined ? {} : { delete: parsed.values.delete }) }

  const request = async <T>(method: string, path: string, payload?: unknown): Promise<T> => {
    let response: Response
    try {
      response = await io.fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(payload === undefined ? {} : { body: JSON.stringify(payload) })
      })
    } catch (error) {
      throw new CliFailure(`cannot reach the broker at ${base}: ${(error as Error).message}`, EXIT.unavailable)
    }
    const text = await response.text()
    let json: unknown
    try { json = JSON.parse(text) } catch { json = undefined }
    if (!response.ok) {
      const problem = json as { code?: string, detail?: string } | undefined
      throw new CliFailure(`the broker answered ${response.status}${problem?.code === undefined ? '' : ` ${problem.code}`}: ${problem?.detail ?? text.slice(0, 300)}`, EXIT.failed)
    }
    return json as T
  }

  try {
    if (action === 'plan') {
      const plan = await request<PlanView>('POST', `/regions/${region}/bot-users/plan`, body)
      io.stdout(parsed.values.json ? `${JSON.stringify(plan, null, 2)}\n` : renderPlan(plan))
      return EXIT.ok
    }
    const started = action === 'apply'
      ? await request<JobView>('POST', `/regions/${region}/bot-users/jobs`, body)
      : await request<JobView>('GET', `/regions/${region}/bot-users/jobs/${encodeURIComponent(jobId ?? '')}`)
    if (!parsed.values.json) io.stdout(`job ${started.id} (${region}): follow it with  qlik-broker bot-users status --region ${region} --job ${started.id}\n`)
    let job = started
    let last = ''
    for (;;) {
      const line = progressLine(job)
      if (!parsed.values.json && line !== last) io.stdout(io.tty ? `\r${line}` : `${line}\n`)
      last = line
      if (job.status !== 'running') break
      await io.sleep(io.pollMs ?? 1000)
      job = await request<JobView>('GET', `/regions/${region}/bot-users/jobs/${job.id}`)
    }
    if (io.tty && !parsed.values.json) io.stdout('\n')
    io.stdout(parsed.values.json ? `${JSON.stringify(job, null, 2)}\n` : renderSummary(job))
    const anythingFailed = job.totals.failed > 0 || job.status !== 'finished' || job.tenants.some((tenant) => tenant.phase === 'failed')
    return anythingFailed ? EXIT.failed : EXIT.ok
  } catch (error) {
    if (!(error instanceof CliFailure)) throw error
    io.stderr(`qlik-broker bot-users: ${error.message}\n`)
    return error.exitCode
  }
}

const BAR_WIDTH = 30

function progressLine (job: JobView): string {
  const { found, moved, failed, remaining } = job.totals
  const done = moved + failed
  const filled = found === 0 ? (job.status === 'running' ? 0 : BAR_WIDTH) : Math.round(BAR_WIDTH * done / found)
  const eta = job.status === 'running' && remaining > 0 ? `, about ${job.etaSeconds} s left` : ''
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${done}/${found} done: ${moved} moved, ${failed} failed, ${remaining} remaining (${job.status}${eta})`
}

/** Columns padded to their widest cell. */
export function table (header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)))
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n') + '\n'
}

function renderPlan (plan: PlanView): string {
  let out = `plan: ${plan.totals.items} item(s) on ${plan.totals.tenants} tenant(s); nothing was changed\n\n`
  for (const tenant of plan.tenants) {
    out += `${tenant.host}: old bot users ${tenant.inactiveBotUsers.map((user) => user.subject).join(', ') || 'none'}\n`
    if (tenant.items.length > 0) out += table(['kind', 'id', 'name', 'owner', 'to', 'call'], tenant.items.map((item) => [item.kind, item.id, item.name, item.from, item.action === 'delete' ? '(delete)' : item.to ?? '', `${item.call.method} ${item.call.path}`]))
    for (const note of tenant.notes) out += `note: ${note}\n`
    out += '\n'
  }
  return out
}

function renderSummary (job: JobView): string {
  let out = `\njob ${job.id}: ${job.status}\n`
  out += table(['tenant', 'phase', 'found', 'moved', 'failed', 'remaining'], [
    ...job.tenants.map((tenant) => [tenant.host, tenant.phase, String(tenant.found), String(tenant.moved), String(tenant.failed), String(tenant.remaining)]),
    ['total', '', String(job.totals.found), String(job.totals.moved), String(job.totals.failed), String(job.totals.remaining)]
  ])
  for (const tenant of job.tenants) {
    if (tenant.error !== undefined) out += `${tenant.host}: ${tenant.error}\n`
    for (const failure of tenant.failures) out += `${tenant.host}: ${failure.kind} ${failure.id} not moved: ${failure.error}\n`
  }
  for (const note of job.notes) out += `note: ${note}\n`
  return out
}
