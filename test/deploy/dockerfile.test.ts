import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { findTool, need, REPO_ROOT, run, tempDir } from './tools.js'

interface Instruction { keyword: string, args: string, line: number }
interface Finding { lineNumber: number, message: string, level: string, code: string }

const DOCKERFILE = join(REPO_ROOT, 'Dockerfile')
const LINTER = join(REPO_ROOT, 'node_modules', 'dockerlinter', 'bin', 'dockerfilelinter.js')
const shellcheck = findTool('shellcheck')

/** Dockerfile instructions with continuations joined and comments dropped. */
function parseDockerfile (text: string): Instruction[] {
  const instructions: Instruction[] = []
  let pending: { parts: string[], line: number } | undefined
  text.split('\n').forEach((rawLine, index) => {
    const line = rawLine.trim()
    if (line.startsWith('#') || (line === '' && pending === undefined)) return
    const continued = line.endsWith('\\')
    const part = continued ? line.slice(0, -1).trim() : line
    pending ??= { parts: [], line: index + 1 }
    if (part !== '') pending.parts.push(part)
    if (continued) return
    const [keyword = '', ...rest] = pending.parts.join(' ').split(/\s+/)
    instructions.push({ keyword: keyword.toUpperCase(), args: rest.join(' '), line: pending.line })
    pending = undefined
  })
  return instructions
}

/**
 * Runs dockerlinter (with Debian's shellcheck) and returns its findings, all
 * levels. It writes scratch files into its working directory: give it a temp one.
 */
async function lint (dockerfile: string, cwd: string): Promise<Finding[]> {
  const result = await run(process.execPath, [LINTER, '-f', dockerfile, '-j'], { cwd })
  assert.ok(result.code === 0 || result.code === 1, `dockerlinter failed to run: ${result.stderr}`)
  return result.stdout.trim() === '' ? [] : JSON.parse(result.stdout) as Finding[]
}

await describe('Dockerfile', async () => {
  const text = readFileSync(DOCKERFILE, 'utf8')
  const instructions = parseDockerfile(text)
  const globalArgs = new Map<string, string>()
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') break
    if (instruction.keyword === 'ARG') {
      const [name = '', value = ''] = instruction.args.split('=')
      globalArgs.set(name, value)
    }
  }
  const resolveArgs = (value: string): string => value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_match, braced: string | undefined, bare: string | undefined) => globalArgs.get(braced ?? bare ?? '') ?? '')
  const stages = instructions.filter((instruction) => instruction.keyword === 'FROM').map((instruction) => {
    const [image = '', as, name] = instruction.args.split(/\s+/)
    return { image: resolveArgs(image), name: as?.toUpperCase() === 'AS' ? name : undefined, line: instruction.line }
  })
  const lastFrom = instructions.findLastIndex((instruction) => instruction.keyword === 'FROM')
  const finalStage = instructions.slice(lastFrom)
  /** A stage's instructions, its FROM first. */
  const stageOf = (name: string): Instruction[] => {
    const start = instructions.findIndex((instruction) => instruction.keyword === 'FROM' && instruction.args.endsWith(` AS ${name}`))
    assert.ok(start >= 0, `a stage named ${name}`)
    const next = instructions.findIndex((instruction, index) => index > start && instruction.keyword === 'FROM')
    return instructions.slice(start, next === -1 ? undefined : next)
  }
  const copiesFrom = (instructions: Instruction[]): Array<string | undefined> => instructions.filter((instruction) => instruction.keyword === 'COPY' && instruction.args.startsWith('--from=')).map((instruction) => /--from=(\S+)/.exec(instruction.args)?.[1])

  await describe('dockerlinter with shellcheck', { skip: shellcheck.skip }, async () => {
    await it('reports nothing, at any level', async () => {
      need(shellcheck)
      const dir = tempDir('dockerlint')
      try {
        assert.deepEqual(await lint(DOCKERFILE, dir.path), [])
      } finally {
        dir.remove()
      }
    })

    await it('does report a bad Dockerfile, shellcheck findings included (the lint is live)', async () => {
      need(shellcheck)
      const dir = tempDir('dockerlint-bad')
      try {
        const bad = join(dir.path, 'Dockerfile')
        writeFileSync(bad, 'FROM node\nRUN cd /app; echo $HOME > out.txt\nCMD npm start\n')
        const codes = (await lint(bad, dir.path)).map((finding) => finding.code)
        assert.ok(codes.includes('EF0004'), `untagged base image: ${codes.join(',')}`)
        assert.ok(codes.includes('EJ0002'), `shell-form CMD: ${codes.join(',')}`)
        assert.ok(codes.some((code) => code.startsWith('SC')), `a shellcheck finding: ${codes.join(',')}`)
      } finally {
        dir.remove()
      }
    })
  })

  await it('is multi-stage: the broker (deps, build, runtime, the default target last) and the simulator (its own deps, build and target)', () => {
    assert.deepEqual(stages.map((stage) => stage.name), ['deps', 'build', 'sim-deps', 'sim-build', 'simulator', 'runtime'])
    const copiedFrom = copiesFrom(finalStage)
    assert.deepEqual([...new Set(copiedFrom)].sort(), ['build', 'deps'], 'the broker image takes nothing from the simulator stages')
    assert.deepEqual([...new Set(copiesFrom(stageOf('simulator')))].sort(), ['sim-build', 'sim-deps'])
    for (const source of [...copiedFrom, ...copiesFrom(stageOf('simulator'))]) assert.ok(stages.some((stage) => stage.name === source), `COPY --from=${source ?? '?'} names a stage`)
  })

  await it('builds the broker from its own sources only: no packages/ (the simulator), no scripts/ (the demo)', () => {
    for (const name of ['deps', 'build']) {
      const copies = stageOf(name).filter((instruction) => instruction.keyword === 'COPY')
      assert.ok(copies.length > 0)
      for (const copy of copies) assert.doesNotMatch(copy.args, /packages|scripts|demo/, `${name}: COPY ${copy.args}`)
      for (const install of stageOf(name).filter((instruction) => instruction.keyword === 'RUN' && instruction.args.startsWith('npm ci'))) {
        assert.match(install.args, /--workspaces=false/, `${name}: the root's dependencies, no workspace link`)
      }
    }
  })

  await it('pins its base images to Node 24 LTS, the runtime distroless nonroot', () => {
    for (const stage of stages) {
      const [repository, tag] = stage.image.split('@')[0]?.split(/:(?=[^/]+$)/) ?? []
      assert.ok(repository !== undefined && tag !== undefined && tag !== 'latest', `line ${stage.line}: ${stage.image} has a fixed tag`)
    }
    const image = (name: string): string | undefined => stages.find((stage) => stage.name === name)?.image
    assert.match(image('build') ?? '', /^node:24\.\d+\.\d+-trixie-slim$/, 'an exact Node 24 release for the build')
    assert.equal(image('runtime'), 'gcr.io/distroless/nodejs24-debian13:nonroot')
    assert.equal(image('simulator'), image('runtime'), 'the simulator runs on the same distroless base')
  })

  await it('installs production dependencies only, from the lockfile, with install scripts off', () => {
    const deps = instructions.slice(instructions.findIndex((instruction) => instruction.keyword === 'FROM'), instructions.findIndex((instruction, index) => index > 0 && instruction.keyword === 'FROM' && instruction.args.includes(' AS build')))
    const install = deps.find((instruction) => instruction.keyword === 'RUN')
    assert.match(install?.args ?? '', /^npm ci --omit=dev --ignore-scripts\b/)
    const copy = deps.find((instruction) => instruction.keyword === 'COPY')
    assert.match(copy?.args ?? '', /package\.json package-lock\.json \.npmrc/, '.npmrc (install scripts off) goes in with the lockfile')
    assert.doesNotMatch(readFileSync(join(REPO_ROOT, '.npmrc'), 'utf8'), /legacy-peer-deps/, 'the main tree installs with npm\'s peer rules (deploy tooling that needs otherwise lives in deploy/tools)')
    assert.ok(finalStage.some((instruction) => instruction.keyword === 'COPY' && instruction.args === '--from=deps /app/node_modules ./node_modules'))
  })

  await it('runs as a non-root user with an exec-form command and no npm', () => {
    const user = finalStage.filter((instruction) => instruction.keyword === 'USER').at(-1)
    assert.ok(user, 'the runtime stage sets USER')
    assert.doesNotMatch(user.args, /^(0|root)(:|$)/)
    const cmd = finalStage.filter((instruction) => instruction.keyword === 'CMD').at(-1)
    assert.ok(cmd, 'the runtime stage has a CMD')
    const argv = JSON.parse(cmd.args) as unknown
    assert.deepEqual(argv, ['dist/server.js'], 'exec form; the distroless ENTRYPOINT is node')
    assert.ok(!finalStage.some((instruction) => instruction.keyword === 'ENTRYPOINT'))
    assert.doesNotMatch(text, /npm (run )?start/)
    assert.ok(finalStage.some((instruction) => instruction.keyword === 'ENV' && /NODE_ENV=production/.test(instruction.args)))
    assert.ok(finalStage.some((instruction) => instruction.keyword === 'EXPOSE' && instruction.args === '8080'))
  })

  await it('has a simulator target: non-root, exec-form CMD of the built package, SIM_* defaults for a container', () => {
    const simulator = stageOf('simulator')
    const user = simulator.filter((instruction) => instruction.keyword === 'USER').at(-1)
    assert.ok(user !== undefined && !/^(0|root)(:|$)/.test(user.args), 'a non-root USER')
    const cmd = simulator.filter((instruction) => instruction.keyword === 'CMD').at(-1)
    assert.deepEqual(JSON.parse(cmd?.args ?? 'null'), ['dist/main.js'])
    assert.equal(simulator.find((instruction) => instruction.keyword === 'WORKDIR')?.args, '/app/packages/qlik-cloud-simulator')
    assert.ok(simulator.some((instruction) => instruction.keyword === 'ENV' && /SIM_HOST=0\.0\.0\.0/.test(instruction.args)), 'listens on all interfaces in a container')
    assert.ok(simulator.some((instruction) => instruction.keyword === 'EXPOSE' && instruction.args === '4100'))
    const install = stageOf('sim-deps').find((instruction) => instruction.keyword === 'RUN')
    assert.match(install?.args ?? '', /^npm ci --omit=dev --ignore-scripts --workspace=@qlik-broker\/qlik-cloud-simulator\b/)
  })

  await it('puts the OCI labels and their volatile build arguments last', () => {
    const label = finalStage.find((instruction) => instruction.keyword === 'LABEL')
    assert.ok(label)
    for (const key of ['title', 'version', 'revision', 'created', 'licenses']) assert.match(label.args, new RegExp(`org\\.opencontainers\\.image\\.${key}=`))
    const revisionArg = finalStage.findIndex((instruction) => instruction.keyword === 'ARG' && instruction.args.startsWith('REVISION'))
    const lastLayer = finalStage.findLastIndex((instruction) => ['COPY', 'RUN', 'ADD'].includes(instruction.keyword))
    assert.ok(revisionArg > lastLayer, 'ARG REVISION comes after every layer')
  })

  await it('has a .dockerignore that keeps secrets, build output and tooling out, and the sources in', () => {
    const patterns = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'))
    for (const required of ['**/node_modules', 'dist', '.git', '.env', '.env.*', 'test', 'helm', '.tools', 'coverage']) {
      assert.ok(patterns.includes(required), `.dockerignore lists ${required}`)
    }
    for (const needed of ['src', 'packages', 'package.json', 'package-lock.json', '.npmrc', 'tsconfig.json']) {
      assert.ok(!patterns.some((pattern) => pattern === needed || pattern === `${needed}/`), `.dockerignore keeps ${needed}`)
    }
  })
})
