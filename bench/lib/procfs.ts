import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'

const CLOCK_TICKS = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** User + system CPU time of a process so far, in ms (clock-tick resolution, 10 ms here). */
export function cpuMs (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which may itself hold spaces or parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    return (Number(fields[11]) + Number(fields[12])) * 1000 / CLOCK_TICKS
  } catch {
    return 0
  }
}

export function totalCpuMs (pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuMs(pid), 0)
}

/** VmRSS and VmHWM (peak RSS) in MiB; 0 when the process is gone. */
export function memoryMiB (pid: number): { rss: number, peak: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) / 1024
    return { rss: field('VmRSS'), peak: field('VmHWM') }
  } catch {
    return { rss: 0, peak: 0 }
  }
}

/** Direct children of a process (nginx's workers). */
export function childPids (pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((entry) => entry !== '').map(Number)
  } catch {
    return []
  }
}

/** A tool's version as it prints it (on stdout or stderr, as nginx does). */
function version (command: string, args: string[], pattern: RegExp): string {
  const result = spawnSync(command, args, { encoding: 'utf8' })
  if (result.error !== undefined) return 'not installed'
  const text = `${result.stdout}${result.stderr}`
  return pattern.exec(text)?.[1] ?? text.trim()
}

export function machineDescription (): string[] {
  const list = cpus()
  const os = ((): string => {
    try {
      return /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux'
    } catch {
      return 'Linux'
    }
  })()
  const kernel = ((): string => {
    try {
      return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()
    } catch {
      return ''
    }
  })()
  return [
    `- CPU: ${list.length} × ${list[0]?.model.trim() ?? 'unknown'}`,
    `- memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${os}, kernel ${kernel}`,
    `- Node ${process.version}, nginx ${version('nginx', ['-v'], /nginx\/(\S+)/)}, Redis ${version('redis-server', ['--version'], /v=(\S+)/)}, autocannon ${autocannonVersion()}`
  ]
}

function autocannonVersion (): string {
  try {
    return (JSON.parse(readFileSync(join(new URL('../..', import.meta.url).pathname, 'node_modules', 'autocannon', 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'not installed'
  }
}

/** CPU busy time of the whole machine (all cores, steal included: a hypervisor's other guests count too), in ms. */
export function machineBusyMs (): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? []
    // user nice system idle iowait irq softirq steal (guest time is inside user already)
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields
    return (user + nice + system + irq + softirq + steal) * 1000 / CLOCK_TICKS
  } catch {
    return 0
  }
}

/** CPU of this process plus its children that have exited and been waited for (each load generator run). */
export function selfAndReapedChildrenMs (): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 1000 / CLOCK_TICKS
  } catch {
    return 0
  }
}

/**
 * How much CPU processes outside the bench used while `run` ran, in % of
 * one core: the machine's busy time less the bench (itself, its reaped load
 * generators and the `ours` processes still running).
 */
export async function withForeignCpu<T> (ours: () => number[], run: () => Promise<T>): Promise<{ value: T, foreignPct: number }> {
  const started = performance.now()
  const before = { busy: machineBusyMs(), self: selfAndReapedChildrenMs(), ours: totalCpuMs(ours()) }
  const value = await run()
  const wall = performance.now() - started
  const used = (machineBusyMs() - before.busy) - (selfAndReapedChildrenMs() - before.self) - (totalCpuMs(ours()) - before.ours)
  return { value, foreignPct: wall > 0 ? Math.max(0, used) / wall * 100 : 0 }
}
