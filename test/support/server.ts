// The service as a real child process (for signals, kill -9, start-up and the compiled binary):
// started on a free port, its JSON log lines collected, stopped by a signal.
import type { Subprocess } from 'bun'
import { join } from 'node:path'

export const repoRoot = join(import.meta.dir, '../..')

export interface RunningServer {
  url: string
  proc: Subprocess<'ignore', 'pipe', 'pipe'>
  /** stdout lines so far, parsed where they are JSON. */
  logs: Record<string, unknown>[]
  stderr(): string
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** The environment a test server runs with: loopback, a port of the OS's choosing, the access log on. */
export const serverEnv = (env: Record<string, string>): Record<string, string> => ({
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '/tmp',
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'info',
  ...env,
})

/** A port nothing listens on: bound once by the OS, then released. */
export async function closedPort(): Promise<number> {
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = probe.port!
  await probe.stop(true)
  return port
}

/**
 * Starts `command` (by default `bun src/index.ts serve`) and waits for its server.started line and
 * then for its database to be settled (database.ready, or database.unavailable_at_start): the
 * service listens before its database is open.
 */
export async function startServer(env: Record<string, string>, command = ['bun', join(repoRoot, 'src/index.ts'), 'serve'], cwd = repoRoot): Promise<RunningServer> {
  const proc = Bun.spawn(command, {
    cwd,
    env: serverEnv(env),
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const logs: Record<string, unknown>[] = []
  let errText = ''
  void (async () => {
    for await (const chunk of proc.stderr) errText += new TextDecoder().decode(chunk)
  })()

  let url: string | undefined
  const started = new Promise<string>((resolve, reject) => {
    void (async () => {
      let buffer = ''
      for await (const chunk of proc.stdout) {
        buffer += new TextDecoder().decode(chunk)
        let newline: number
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline)
          buffer = buffer.slice(newline + 1)
          try {
            const entry = JSON.parse(line) as Record<string, unknown>
            logs.push(entry)
            if (entry.message === 'server.started') url = String(entry.url).replace(/\/$/, '')
            // A build from before listen-first (no `commit` in its start line, as the baseline of a
            // benchmark) logs server.started once its database is open.
            const settled = entry.message === 'database.ready' || entry.message === 'database.unavailable_at_start' || (entry.message === 'server.started' && !('commit' in entry))
            if (url && settled) resolve(url)
          } catch {
            logs.push({ raw: line })
          }
        }
      }
      reject(new Error(`the server exited (${await proc.exited}) before it started:\n${errText}`))
    })()
  })
  let timer: Timer | undefined
  const settled = await Promise.race([
    started,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        proc.kill('SIGKILL')
        reject(new Error(`the server did not start within 30 s:\n${errText}`))
      }, 30_000)
    }),
  ]).finally(() => clearTimeout(timer))
  return {
    url: settled,
    proc,
    logs,
    stderr: () => errText,
    async stop(signal = 'SIGTERM') {
      proc.kill(signal)
      return proc.exited
    },
  }
}
