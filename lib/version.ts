import {readFileSync} from 'node:fs'
import {SUPPORTED_API_VERSIONS} from './plan/migrate.js'

export interface VersionInfo {
  version: string
  planApiVersions: string[]
  node: string
  platform: string
}

function packageVersion(): string {
  // Source runs from lib/, compiled code from dist/lib/: look one and two levels up.
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {name?: string; version?: string}
      if (pkg.name === 'cloudtaser' && pkg.version) return pkg.version
    } catch {
      // try the next candidate
    }
  }
  return '0.0.0'
}

export const TOOL_VERSION = packageVersion()

export const versionInfo = (): VersionInfo => ({
  version: TOOL_VERSION,
  planApiVersions: SUPPORTED_API_VERSIONS,
  node: process.versions.node,
  platform: `${process.platform}-${process.arch}`,
})
