// A database handle with no database behind it, for commands that build the app but serve no
// request that needs one (`taskapi openapi`): nothing is opened, and any query fails at once.
import { drizzle } from 'drizzle-orm/pg-proxy'
import type { DatabaseHandle } from './client'

const refuse = () => Promise.reject(new Error('this command has no database'))

export function nullDatabase(): DatabaseHandle {
  return {
    db: drizzle(refuse),
    driver: 'none',
    ensureSchema: refuse,
    checkReady: refuse,
    listen: refuse,
    opened: Promise.resolve(),
    close: () => Promise.resolve(),
  }
}
