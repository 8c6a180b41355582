// What the browser checks (test/browser/*.ts) share: Debian's Chromium, headless, and a report of
// named checks that ends the process with 0 when every one passed, else 1.
import { existsSync } from 'node:fs'
import type { RunningServer } from './server'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
// Headless as root, and nothing in the background that would reach for Google's hosts.
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** Exits 1 naming the fix when a file the check needs is missing. */
export function requireFiles(files: readonly (readonly [path: string, fix: string])[]) {
  for (const [path, fix] of files) {
    if (!existsSync(path)) {
      console.error(`${path} is missing: ${fix}`)
      process.exit(1)
    }
  }
}

export function createReport(name: string) {
  const failures: string[] = []
  const check = (ok: boolean, message: string) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'}  ${message}`)
    if (!ok) failures.push(message)
  }
  return {
    check,
    /** An exception that ended the run early counts as a failure. */
    fail(error: unknown) {
      failures.push(String(error))
      console.error(error)
    },
    /** Stops the server (checking that it exits cleanly on SIGTERM), if it still runs. */
    async stop(server: RunningServer | undefined) {
      if (server && server.proc.exitCode === null) {
        const code = await server.stop('SIGTERM')
        check(code === 0, `the binary stopped on SIGTERM with exit ${code}`)
      }
    },
    finish(): never {
      if (failures.length > 0) {
        console.log(`${name}: ${failures.length} check(s) failed`)
        process.exit(1)
      }
      console.log(`${name}: all checks passed`)
      process.exit(0)
    },
  }
}
