// The embedded database's folder, made safe before PGlite opens it: created private (0700), checked
// (owner, read, write) with errors a person can act on, owned by one process at a time through a
// lock the kernel releases when that process ends, however it ends, and kept private (0700/0600).
import { dlopen, FFIType, read } from 'bun:ffi'
import { chmodSync, closeSync, existsSync, fsyncSync, ftruncateSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

/** A data folder that cannot be used: its message is one line naming the folder and the fix. */
export class DataDirError extends Error {
  override name = 'DataDirError'
}

export interface DataDir {
  readonly path: string
  /** Removes group and other permissions from the folder and everything in it; returns how many it changed. */
  tighten(): number
  /** Gives up the lock (the process ending does the same). */
  release(): void
}

const LOCK_FILE = 'taskapi.lock'
const FIRST_START_FILE = 'taskapi.first-start'

/**
 * Creates (0700), checks and locks `dir`. Throws DataDirError when another process holds it or it
 * cannot be used, or, with `volume`, when it is not a mounted file system of its own.
 */
export function openDataDir(dir: string, { volume = '' } = {}): DataDir {
  const path = resolve(dir)
  const uid = process.getuid?.()
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 })
  } catch (error) {
    if (code(error) === 'EEXIST') throw new DataDirError(`DATA_DIR ${path} is not a folder: set DATA_DIR to a folder`)
    throw new DataDirError(`DATA_DIR ${path} cannot be created (${code(error)}): create it for user ${uid ?? 'running taskapi'}, or set DATA_DIR to a folder that user may write`)
  }
  const stat = lstatSync(path)
  if (!stat.isDirectory()) throw new DataDirError(`DATA_DIR ${path} is not a folder: set DATA_DIR to a folder`)
  if (uid !== undefined && stat.uid !== uid) {
    throw new DataDirError(`DATA_DIR ${path} is owned by user ${stat.uid}, not by user ${uid} who runs taskapi: \`chown -R ${uid} ${path}\`, or run taskapi as its owner`)
  }
  if (volume && lstatSync(dirname(path)).dev === stat.dev) {
    throw new DataDirError(`DATA_DIR ${path} is not a mounted volume, and ${volume}: mount a volume there, or set DATABASE_URL to a Postgres`)
  }
  // The owner's own bits are never added: a folder made read-only on purpose stays refused.
  if ((stat.mode & 0o700) !== 0o700) {
    throw new DataDirError(`DATA_DIR ${path} is not readable and writable by its owner (mode ${(stat.mode & 0o777).toString(8)}): \`chmod 700 ${path}\``)
  }
  let fd: number
  try {
    fd = openSync(join(path, LOCK_FILE), 'a+', 0o600)
  } catch (error) {
    throw new DataDirError(`DATA_DIR ${path} is not writable (${code(error)}): mount it read-write, or set DATA_DIR to a writable folder`)
  }
  if (!lock(fd)) {
    closeSync(fd)
    const holder = readFileSync(join(path, LOCK_FILE), 'utf8').trim()
    throw new DataDirError(`DATA_DIR ${path} is in use by another taskapi (pid ${holder || 'unknown'}): stop it first, or set DATA_DIR to another folder`)
  }
  ftruncateSync(fd, 0)
  writeSync(fd, `${process.pid}\n`, 0)
  return {
    path,
    tighten: () => tighten(path),
    release: () => closeSync(fd),
  }
}

/**
 * A first start writes a whole database into the folder (the embedded template, or initdb's
 * output); killed meanwhile, it leaves a half-written one that Postgres cannot open. So the first
 * start is bracketed by a marker file listing what the folder held before: when the next start
 * finds the marker, it removes everything else (nothing was ever served from it) and starts over.
 * Returns null when `dir` already holds a database (no marker, PG_VERSION present: opened as it
 * is, including folders from builds before this marker existed); otherwise the function that ends
 * the first start, to call once the database is open and before it serves anything.
 */
export function beginFirstStart(dir: string): (() => void) | null {
  const path = resolve(dir)
  const marker = join(path, FIRST_START_FILE)
  if (existsSync(marker)) {
    const before = new Set<string>(JSON.parse(readFileSync(marker, 'utf8')) as string[])
    for (const name of readdirSync(path)) {
      if (name !== FIRST_START_FILE && name !== LOCK_FILE && !before.has(name)) rmSync(join(path, name), { recursive: true, force: true })
    }
  } else if (existsSync(join(path, 'PG_VERSION'))) {
    return null
  } else {
    mkdirSync(path, { recursive: true, mode: 0o700 })
    const before = readdirSync(path).filter((name) => name !== LOCK_FILE)
    writeFileSync(marker, JSON.stringify(before), { mode: 0o600 })
    syncFolder(path)
  }
  return () => {
    unlinkSync(marker)
    syncFolder(path)
  }
}

/** Makes the folder's own entries (files created, renamed, removed) durable. */
function syncFolder(path: string) {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

function tighten(path: string): number {
  let changed = 0
  const visit = (p: string) => {
    const stat = lstatSync(p)
    if (stat.isSymbolicLink()) return
    if ((stat.mode & 0o077) !== 0) {
      chmodSync(p, stat.mode & 0o700)
      changed++
    }
    if (stat.isDirectory()) for (const name of readdirSync(p)) visit(join(p, name))
  }
  visit(path)
  return changed
}

function code(error: unknown): string {
  return (error as { code?: string }).code ?? (error as Error).message
}

// flock(2) through libc: the kernel drops the lock when the process ends, even by kill -9, so a
// stale lock never blocks a start, and a PID reused by another process (PID 1 in every container)
// cannot fool it the way a PID file can. Node's fs has no flock, and the npm packages that do are
// native addons, which a compiled Bun binary cannot carry.
const LOCK_EX = 2
const LOCK_NB = 4
const EINTR = 4

let libc: ReturnType<typeof openLibc> | undefined
function openLibc() {
  const darwin = process.platform === 'darwin'
  return dlopen(darwin ? 'libc.dylib' : 'libc.so.6', {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    [darwin ? '__error' : '__errno_location']: { args: [], returns: FFIType.ptr },
  })
}

/** Takes an exclusive lock on `fd` without waiting; false when another process holds one. */
function lock(fd: number): boolean {
  if (process.platform === 'win32') return pidLock(fd)
  libc ??= openLibc()
  const errno = libc.symbols.__errno_location ?? libc.symbols.__error
  for (;;) {
    if (libc.symbols.flock!(fd, LOCK_EX | LOCK_NB) === 0) return true
    const e = read.i32(errno!()!, 0)
    if (e !== EINTR) return false
  }
}

/**
 * Windows has no flock: there the lock file's PID counts while that process lives. (No container
 * there reuses PID 1 for every start, which is what rules this out elsewhere.)
 */
function pidLock(fd: number): boolean {
  const holder = Number(readFileSync(fd, 'utf8').trim())
  if (!Number.isInteger(holder) || holder <= 0 || holder === process.pid) return true
  try {
    process.kill(holder, 0)
    return false
  } catch {
    return true // stale: its process is gone
  }
}
