// The server's memory under load: a full garbage collection is asked for whenever the resident
// memory has grown a fixed amount past the lowest it has been in the last few seconds, and whenever
// it is above a ceiling.
//
// Why the runtime does not do this by itself (README, "The embedded database"): JavaScriptCore
// schedules its next collection from the size of the heap it counts, growing it up to twice the
// size left by the last full collection. It counts PGlite's WebAssembly memory twice (the memory
// and its buffer, 2 × 128 MiB, mostly not resident), so it let ~300 MiB of garbage pile up
// between collections; and the native memory that dead requests, responses and driver buffers
// hold is not counted at all. Its options (BUN_JSC_*) are read from the environment at launch
// only, so a compiled binary cannot set them for itself. The resident size is what a host
// limits and what is measured here.

/** How far the resident memory may grow past its recent low point before a collection is asked for. */
const MEMORY_SLACK_BYTES = 32 * 1024 * 1024
/**
 * Above this resident size a collection is asked for at every check, however the low point moved.
 * Under steady load the low point itself climbs (it is the lowest of a few seconds of a busy heap),
 * and the slack alone let the embedded database's process reach 305-317 MiB in the load benchmark;
 * with this ceiling it peaked at 276-285 (README, "The embedded database"; the target is 300).
 * Postgres-backed processes stay far below it (125-165 MiB at peak in bench/compare.ts). A process
 * whose memory in use sits above it asks for a collection at every check; in that benchmark, where
 * the embedded process ran at the ceiling, its throughput was no lower than without one.
 */
const MEMORY_CEILING_BYTES = 256 * 1024 * 1024
const CHECK_EVERY_MS = 100
// The low point is the lowest size of about the last few seconds: under load, a collection every
// few hundred milliseconds keeps dipping to it; memory that stays in use raises it within the window.
const LOW_POINT_WINDOW_MS = 5000

export interface MemoryBound {
  stop(): void
}

/**
 * Every `everyMs`, reads the resident size (~10 µs); more than `slackBytes` above the lowest of
 * the last `windowMs`, or above `ceilingBytes`, starts a full collection concurrent with the
 * requests (`Bun.gc(false)` returns at once).
 */
export function boundMemory({
  slackBytes = MEMORY_SLACK_BYTES,
  everyMs = CHECK_EVERY_MS,
  windowMs = LOW_POINT_WINDOW_MS,
  ceilingBytes = MEMORY_CEILING_BYTES,
  resident = () => process.memoryUsage.rss(),
  collect = () => void Bun.gc(false),
  now = () => performance.now(),
}: { slackBytes?: number; everyMs?: number; windowMs?: number; ceilingBytes?: number; resident?: () => number; collect?: () => void; now?: () => number } = {}): MemoryBound {
  let low = resident()
  let lowAt = now()
  const timer = setInterval(() => {
    const size = resident()
    const at = now()
    // Not a true sliding minimum: a low point older than the window gives way to the size now,
    // and the next dip lowers it again.
    if (size <= low || at - lowAt > windowMs) {
      low = size
      lowAt = at
    }
    if (size > low + slackBytes || size > ceilingBytes) collect()
  }, everyMs)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
