// The server's memory under load: a full garbage collection is asked for whenever the resident
// memory has grown a fixed amount past the lowest it has been since the last one.
//
// Why the runtime does not do this by itself (README, "The embedded database"): JavaScriptCore
// schedules its next collection from the size of the heap it counts, growing it up to twice the
// size left by the last full collection. It counts PGlite's WebAssembly memory twice (the memory
// and its buffer, 2 × 128 MiB, mostly not resident), so it let ~300 MiB of garbage pile up
// between collections; and the native memory that dead requests, responses and driver buffers
// hold is not counted at all. Its options (BUN_JSC_*) are read from the environment at launch
// only, so a compiled binary cannot set them for itself. The resident size is what a host
// limits and what is measured here.

/** How far the resident memory may grow past its low point before a collection is asked for. */
export const MEMORY_SLACK_BYTES = 32 * 1024 * 1024
const CHECK_EVERY_MS = 100

export interface MemoryBound {
  stop(): void
}

/**
 * Every `everyMs`, reads the resident size (~10 µs); past the lowest since the last collection by
 * more than `slackBytes`, starts a full collection concurrent with the requests (`Bun.gc(false)`
 * returns at once) and starts the low point over.
 */
export function boundMemory({
  slackBytes = MEMORY_SLACK_BYTES,
  everyMs = CHECK_EVERY_MS,
  resident = () => process.memoryUsage.rss(),
  collect = () => void Bun.gc(false),
}: { slackBytes?: number; everyMs?: number; resident?: () => number; collect?: () => void } = {}): MemoryBound {
  let low = resident()
  const timer = setInterval(() => {
    const now = resident()
    if (now > low + slackBytes) {
      collect()
      // The samples after this one fall to where the collection leaves the memory.
      low = now
    } else if (now < low) {
      low = now
    }
  }, everyMs)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
