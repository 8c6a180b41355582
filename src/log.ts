// Structured logging: one JSON object per line. Callers pass only fields that are safe to keep:
// never a token, a header value, or a task's title or description.
import type { LogLevel } from './config'

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

export type LogFields = Record<string, string | number | boolean | null | undefined>

export interface Logger {
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
}

export type LogSink = (line: string) => void

const stdout: LogSink = (line) => process.stdout.write(line + '\n')

export function createLogger(level: LogLevel, sink: LogSink = stdout): Logger {
  const threshold = rank[level]
  const write = (lvl: Exclude<LogLevel, 'silent'>) => (message: string, fields?: LogFields) => {
    if (rank[lvl] < threshold) return
    sink(JSON.stringify({ time: new Date().toISOString(), level: lvl, message, ...fields }))
  }
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') }
}
