import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import ts from 'typescript'
import { REPO_ROOT } from './tools.js'

/**
 * Validates rendered Kubernetes manifests without a cluster, in two passes:
 *  1. kubernetes-models' own validate(): types, required fields, enums, formats;
 *  2. unknown fields (`lables:`), which validate() lets through: each
 *     manifest becomes a typed object literal checked by the TypeScript
 *     compiler against the package's interfaces, whose excess-property check
 *     walks every nesting level.
 * kubernetes-models merges many Kubernetes versions, so removed APIs pass
 * here: `helm lint --kube-version` covers those.
 */

export interface Manifest {
  apiVersion: string
  kind: string
  metadata?: { name?: string, annotations?: Record<string, string>, labels?: Record<string, string> }
  [key: string]: unknown
}

interface KindModule { module: string, exportName: string, typeName: string }

/** Every kind the chart renders. An unlisted kind is a failure, not a pass. */
const KINDS: Record<string, KindModule> = {
  'v1/ConfigMap': { module: 'kubernetes-models/v1/ConfigMap', exportName: 'ConfigMap', typeName: 'IConfigMap' },
  'v1/Pod': { module: 'kubernetes-models/v1/Pod', exportName: 'Pod', typeName: 'IPod' },
  'v1/Secret': { module: 'kubernetes-models/v1/Secret', exportName: 'Secret', typeName: 'ISecret' },
  'v1/Service': { module: 'kubernetes-models/v1/Service', exportName: 'Service', typeName: 'IService' },
  'v1/ServiceAccount': { module: 'kubernetes-models/v1/ServiceAccount', exportName: 'ServiceAccount', typeName: 'IServiceAccount' },
  'apps/v1/Deployment': { module: 'kubernetes-models/apps/v1/Deployment', exportName: 'Deployment', typeName: 'IDeployment' },
  'autoscaling/v2/HorizontalPodAutoscaler': { module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler', exportName: 'HorizontalPodAutoscaler', typeName: 'IHorizontalPodAutoscaler' },
  'policy/v1/PodDisruptionBudget': { module: 'kubernetes-models/policy/v1/PodDisruptionBudget', exportName: 'PodDisruptionBudget', typeName: 'IPodDisruptionBudget' },
  'networking.k8s.io/v1/NetworkPolicy': { module: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy', exportName: 'NetworkPolicy', typeName: 'INetworkPolicy' },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { module: 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding', exportName: 'ClusterRoleBinding', typeName: 'IClusterRoleBinding' },
  'monitoring.coreos.com/v1/ServiceMonitor': { module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', exportName: 'ServiceMonitor', typeName: 'IServiceMonitor' }
}

const require = createRequire(join(REPO_ROOT, 'package.json'))

type ModelClass = new (data: unknown) => { validate: () => void }

export function describeManifest (manifest: Manifest): string {
  return `${manifest.kind}/${manifest.metadata?.name ?? '?'}`
}

/** Pass 1: kubernetes-models validate(). Returns one message per invalid manifest. */
export function validateWithModels (manifests: readonly Manifest[]): string[] {
  const problems: string[] = []
  for (const manifest of manifests) {
    const kind = KINDS[`${manifest.apiVersion}/${manifest.kind}`]
    if (kind === undefined) {
      problems.push(`${describeManifest(manifest)}: no schema known for ${manifest.apiVersion} ${manifest.kind}`)
      continue
    }
    const Model = (require(kind.module) as Record<string, ModelClass>)[kind.exportName]
    if (Model === undefined) throw new Error(`${kind.module} has no export ${kind.exportName}`)
    try {
      new Model(manifest).validate()
    } catch (error) {
      problems.push(`${describeManifest(manifest)}: ${(error as Error).message}`)
    }
  }
  return problems
}

/**
 * Pass 2: unknown fields and wrong shapes, through the TypeScript compiler.
 * `sources` are labels (e.g. the scenario) used in the messages.
 */
/** Parsed declaration files, shared by every findUnknownFields call of the process. */
const declarationFiles = new Map<string, ts.SourceFile>()

export function findUnknownFields (manifests: ReadonlyArray<{ source: string, manifest: Manifest }>): string[] {
  const fileName = join(REPO_ROOT, 'test', 'deploy', '__rendered_manifests__.ts')
  const imports = new Map<string, string>()
  const lines: string[] = []
  const owners: Array<{ fromLine: number, label: string }> = []
  let cursor = 0
  manifests.forEach(({ source, manifest }, index) => {
    const kind = KINDS[`${manifest.apiVersion}/${manifest.kind}`]
    if (kind === undefined) return
    let alias = imports.get(kind.module)
    if (alias === undefined) {
      alias = `T${imports.size}`
      imports.set(kind.module, alias)
    }
    const statement = `export const m${index}: ${alias} = ${JSON.stringify(manifest, null, 1)}`
    owners.push({ fromLine: cursor, label: `${source}: ${describeManifest(manifest)}` })
    lines.push(statement)
    cursor += statement.split('\n').length
  })
  const header = [...imports].map(([module, alias]) => {
    const kind = Object.values(KINDS).find((entry) => entry.module === module)
    return `import type { ${kind?.typeName ?? '?'} as ${alias} } from '${module}'`
  })
  const text = [...header, ...lines].join('\n')

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: []
  }
  const host = ts.createCompilerHost(options)
  const readFile = host.readFile.bind(host)
  const parse = host.getSourceFile.bind(host)
  // The lib and kubernetes-models declarations do not change between calls: parse them once.
  const getSourceFile: typeof parse = (name, languageVersion, ...rest) => {
    const key = `${name}@${JSON.stringify(languageVersion)}`
    let sourceFile = declarationFiles.get(key)
    if (sourceFile === undefined) {
      sourceFile = parse(name, languageVersion, ...rest)
      if (sourceFile !== undefined) declarationFiles.set(key, sourceFile)
    }
    return sourceFile
  }
  host.readFile = (name) => (name === fileName ? text : readFile(name))
  host.fileExists = (name) => name === fileName || ts.sys.fileExists(name)
  host.getSourceFile = (name, languageVersion, ...rest) => (name === fileName
    ? ts.createSourceFile(name, text, languageVersion, true)
    : getSourceFile(name, languageVersion, ...rest))
  host.getCurrentDirectory = () => dirname(fileName)

  const program = ts.createProgram({ rootNames: [fileName], options, host })
  const diagnostics = ts.getPreEmitDiagnostics(program)
  const headerLines = header.length
  return diagnostics.map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
    if (diagnostic.file?.fileName !== fileName || diagnostic.start === undefined) return message
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
    const bodyLine = line - headerLines
    const owner = [...owners].reverse().find((entry) => entry.fromLine <= bodyLine)
    const snippet = text.split('\n')[line]?.trim() ?? ''
    return `${owner?.label ?? 'manifest'}: ${message} (at ${snippet})`
  })
}
