import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv, type ValidateFunction } from 'ajv'
import { parse as parseYaml } from 'yaml'
import { CHART_DIR } from './tools.js'

/** Helm's coalescing of a values file over the defaults: maps merge, everything else replaces. */
export function mergeValues (base: unknown, override: unknown): unknown {
  const isMap = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
  if (!isMap(base) || !isMap(override)) return override === undefined ? base : override
  const merged: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(override)) merged[key] = mergeValues(base[key], value)
  return merged
}

/** The chart's values.yaml, parsed. */
export function chartDefaults (): Record<string, unknown> {
  return parseYaml(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>
}

/** values.schema.json, parsed. */
export function chartSchema (): Record<string, unknown> {
  return JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Record<string, unknown>
}

/** values.schema.json compiled strictly: unknown keywords (a misspelt `additionalProperites`) are errors, not silently ignored. */
export function compileValuesSchema (): ValidateFunction {
  return new Ajv({ strict: true, allErrors: true, allowUnionTypes: true }).compile(chartSchema())
}
