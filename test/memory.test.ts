// boundMemory: a collection is asked for at every check that finds the resident size more than the
// slack above its lowest of the last few seconds or above the ceiling, and at no other. Sizes and times are the test's.
import { describe, expect, test } from 'bun:test'
import { boundMemory } from '../src/memory'

const MiB = 1024 * 1024

/**
 * Runs the bound over `sizes` (MiB: the first is its starting point, then one per check, each
 * `stepMs` after the one before) and returns the indexes of the sizes it asked for a collection at.
 */
async function collectionsOver(sizes: number[], { slackMiB = 32, windowMs = 60_000, stepMs = 100, ceilingMiB = undefined as number | undefined } = {}): Promise<number[]> {
  let read = 0
  const collected: number[] = []
  const done = Promise.withResolvers<void>()
  const bound = boundMemory({
    slackBytes: slackMiB * MiB,
    ...(ceilingMiB !== undefined && { ceilingBytes: ceilingMiB * MiB }),
    everyMs: 1,
    windowMs,
    now: () => read * stepMs,
    resident: () => {
      if (read === sizes.length) done.resolve()
      return sizes[Math.min(read++, sizes.length - 1)]! * MiB
    },
    collect: () => collected.push(read - 1),
  })
  await done.promise
  bound.stop()
  // The check that found the sizes used up read the last one again.
  return collected.filter((i) => i < sizes.length)
}

describe('boundMemory', () => {
  test('collects at every check that finds the size more than the slack above its starting point', async () => {
    expect(await collectionsOver([100, 110, 132, 133, 140])).toEqual([3, 4])
  })

  test('measures from the lowest size seen', async () => {
    expect(await collectionsOver([100, 80, 100, 113, 120, 90, 112, 113])).toEqual([3, 4, 7])
  })

  test('never collects while the size stays within the slack', async () => {
    expect(await collectionsOver([100, 120, 90, 110, 122, 95, 121])).toEqual([])
  })

  test('above the ceiling, collects at every check, also within the slack of a low point that climbed', async () => {
    // Checks 1 s apart, a 2.5 s window: the low point gives way to 258 at 3 s (a busy heap's floor
    // rising under load), and no size is ever the slack above it; above the ceiling of 256 each
    // check collects all the same, and at or below it none does.
    expect(await collectionsOver([240, 250, 255, 258, 262, 256, 270, 250], { windowMs: 2500, stepMs: 1000, ceilingMiB: 256 })).toEqual([3, 4, 6])
  })

  test('the ceiling is 256 MiB unless given', async () => {
    expect(await collectionsOver([250, 255, 256, 257, 250], { windowMs: 60_000 })).toEqual([3])
  })

  test('a low point older than the window gives way to the size now: memory that stays in use stops the collections', async () => {
    // Checks 1 s apart, a 2.5 s window: the low point of 100 (at 0 s) is replaced at 3 s by 200.
    expect(await collectionsOver([100, 200, 200, 200, 210, 233], { windowMs: 2500, stepMs: 1000 })).toEqual([1, 2, 5])
  })
})
