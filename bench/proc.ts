// What the benchmarks read of a process from /proc (Linux): its memory and the CPU time it used.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'

/** Resident memory of a process now (VmRSS) or at its peak so far (VmHWM), in MiB. */
export function memoryMiB(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]) / 1024
}

const TICKS = Number(Bun.spawnSync(['getconf', 'CLK_TCK']).stdout.toString().trim()) || 100
/** User + system CPU time of the process (all its threads) so far, µs. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // After the command name: state is field 3, utime 14 and stime 15 (1-based, as in proc(5)).
  return ((Number(fields[11]) + Number(fields[12])) / TICKS) * 1e6
}

/** User + system CPU time so far of each process named `name`, by PID, µs. */
function cpuMicrosByPid(name: string): Map<number, number> {
  const found = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trimEnd() === name) found.set(Number(entry), cpuMicros(Number(entry)))
    } catch {
      // ended meanwhile
    }
  }
  return found
}

/**
 * Starts counting the CPU time of the processes named `name` (all Postgres processes: every
 * client's backend, the WAL writer, the checkpointer); the function returned gives what they used
 * since, µs. A process that started in between counts whole; one that ended in between (a backend
 * of a connection a pool closed) is missing, so this may be a little short, never negative.
 */
export function cpuMeter(name: string): () => number {
  const before = cpuMicrosByPid(name)
  return () => {
    let total = 0
    for (const [pid, now] of cpuMicrosByPid(name)) total += Math.max(0, now - (before.get(pid) ?? 0))
    return total
  }
}

/**
 * Starts the process's peak (VmHWM) over from its resident memory now, so the next peak read is
 * one stretch's (proc(5), clear_refs "5"); false where the kernel does not allow it.
 */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}
