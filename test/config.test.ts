// loadConfig: defaults, the database choice, the key rules, one error naming every bad variable,
// and a frozen result. It is a pure function of the environment it is given.
import { describe, expect, test } from 'bun:test'
import { ConfigError, describeVariables, DEVELOPMENT_SECRET, loadConfig, variables } from '../src/config'

const SECRET = 'a-test-secret-of-more-than-thirty-two-bytes'
const bytes = (s: string) => new TextEncoder().encode(s)

/** Runs loadConfig expecting a ConfigError, and returns it. */
function configError(env: Record<string, string | undefined>): ConfigError {
  let config: unknown
  try {
    config = loadConfig(env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error(`expected a ConfigError, got ${JSON.stringify(config)}`)
}

describe('loadConfig defaults', () => {
  test('an environment with only a secret gets the documented defaults', () => {
    const config = loadConfig({ JWT_SECRET: SECRET })
    expect(config.port).toBe(3000)
    expect(config.production).toBe(false)
    expect(config.database).toEqual({ driver: 'pglite', dataDir: './data' })
    expect(config.corsOrigins).toEqual(['http://localhost:*', 'http://127.0.0.1:*'])
    expect(config.jwt.clockSkewS).toBe(30)
    expect(config.jwt.userClaim).toBe('sub')
    expect(config.jwt.issuer).toBeUndefined()
    expect(config.jwt.audience).toBeUndefined()
    expect(config.jwt.developmentSecret).toBe(false)
    expect(config.jwt.secret).toEqual(bytes(SECRET))
    expect(config.logLevel).toBe('info')
  })

  test('an empty value counts as unset', () => {
    const config = loadConfig({ JWT_SECRET: SECRET, PORT: '', DATABASE_URL: '', LOG_LEVEL: '', CORS_ORIGINS: '' })
    expect(config.port).toBe(3000)
    expect(config.database).toEqual({ driver: 'pglite', dataDir: './data' })
    expect(config.logLevel).toBe('info')
    expect(config.corsOrigins).toEqual(['http://localhost:*', 'http://127.0.0.1:*'])
  })

  test('explicit values are read', () => {
    const config = loadConfig({
      JWT_SECRET: SECRET,
      PORT: '8080',
      HOST: '127.0.0.1',
      DATA_DIR: '/var/lib/taskapi',
      JWT_ISSUER: 'https://auth.example.com',
      JWT_AUDIENCE: 'taskapi',
      JWT_CLOCK_SKEW_S: '5',
      JWT_USER_CLAIM: 'uid',
      CORS_ORIGINS: 'https://app.example.com, http://localhost:5173',
      LOG_LEVEL: 'warn',
    })
    expect(config.port).toBe(8080)
    expect(config.host).toBe('127.0.0.1')
    expect(config.database).toEqual({ driver: 'pglite', dataDir: '/var/lib/taskapi' })
    expect(config.jwt).toMatchObject({ issuer: 'https://auth.example.com', audience: 'taskapi', clockSkewS: 5, userClaim: 'uid' })
    expect(config.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173'])
    expect(config.logLevel).toBe('warn')
  })
})

describe('loadConfig database', () => {
  test('DATABASE_URL=memory:// is a throwaway in-memory PGlite, whatever DATA_DIR says', () => {
    expect(loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: 'memory://' }).database).toEqual({ driver: 'pglite', dataDir: null })
    expect(loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: 'memory://', DATA_DIR: '/tmp/x' }).database).toEqual({ driver: 'pglite', dataDir: null })
  })

  test('postgres:// and postgresql:// use the postgres driver', () => {
    for (const url of ['postgres://app:pw@db.internal:5432/tasks', 'postgresql://app@localhost/tasks']) {
      expect(loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: url }).database, url).toMatchObject({ driver: 'postgres', url })
    }
  })

  test('a host ending in .neon.tech uses the neon driver', () => {
    const url = 'postgresql://app:pw@ep-cool-name-123456.us-east-2.aws.neon.tech/tasks?sslmode=require'
    expect(loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: url }).database).toMatchObject({ driver: 'neon', url })
  })

  test('a host that merely contains neon.tech does not', () => {
    for (const url of ['postgres://app@neon.tech.example.com/tasks', 'postgres://app@notneon.tech/tasks', 'postgres://neon.tech@db.internal/tasks']) {
      expect(loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: url }).database, url).toMatchObject({ driver: 'postgres', url })
    }
  })

  test('DB_DRIVER=neon with a postgres:// URL uses neon; DB_DRIVER=postgres overrides a neon host', () => {
    const plain = 'postgres://app@db.internal/tasks'
    expect(loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: plain, DB_DRIVER: 'neon' }).database).toMatchObject({ driver: 'neon', url: plain })
    const neon = 'postgres://app@ep-x.eu-central-1.aws.neon.tech/tasks'
    expect(loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: neon, DB_DRIVER: 'postgres' }).database).toMatchObject({ driver: 'postgres', url: neon })
  })

  test('a driver that cannot use the URL is refused', () => {
    expect(configError({ JWT_SECRET: SECRET, DATABASE_URL: 'postgres://db.internal/tasks', DB_DRIVER: 'pglite' }).problems.join('\n')).toContain('DB_DRIVER')
    expect(configError({ JWT_SECRET: SECRET, DB_DRIVER: 'postgres' }).problems.join('\n')).toContain('DB_DRIVER')
  })

  test('a URL of another kind is refused', () => {
    expect(configError({ JWT_SECRET: SECRET, DATABASE_URL: 'mysql://db.internal/tasks' }).problems.join('\n')).toContain('DATABASE_URL')
  })
})

describe('loadConfig keys', () => {
  test('no key and NODE_ENV unset is a ConfigError naming JWT_SECRET', () => {
    const error = configError({})
    expect(error.problems.some((p) => p.includes('JWT_SECRET'))).toBe(true)
    expect(error.message).toContain('JWT_SECRET')
  })

  test('no key with NODE_ENV=test or production is refused too', () => {
    for (const NODE_ENV of ['test', 'production']) expect(configError({ NODE_ENV }).message, NODE_ENV).toContain('JWT_SECRET')
  })

  test('NODE_ENV=development with no key uses the development secret, and says so', () => {
    const config = loadConfig({ NODE_ENV: 'development' })
    expect(config.jwt.developmentSecret).toBe(true)
    expect(config.jwt.secret).toEqual(bytes(DEVELOPMENT_SECRET))
    expect(config.production).toBe(false)
  })

  test('NODE_ENV=development with a key uses that key', () => {
    const config = loadConfig({ NODE_ENV: 'development', JWT_SECRET: SECRET })
    expect(config.jwt.developmentSecret).toBe(false)
    expect(config.jwt.secret).toEqual(bytes(SECRET))
  })

  test('NODE_ENV=production refuses a secret of 31 bytes and takes one of 32', () => {
    const error = configError({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(31) })
    expect(error.problems.join('\n')).toContain('JWT_SECRET')
    const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) })
    expect(config.production).toBe(true)
    expect(config.jwt.secret).toHaveLength(32)
  })

  test('the production minimum counts bytes, not characters', () => {
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'é'.repeat(16) }).jwt.secret).toHaveLength(32)
    expect(configError({ NODE_ENV: 'production', JWT_SECRET: 'é'.repeat(15) + 'x' }).message).toContain('JWT_SECRET')
  })

  test('BETTER_AUTH_SECRET is used when JWT_SECRET is unset', () => {
    const other = 'the-better-auth-secret-of-at-least-32-bytes'
    expect(loadConfig({ BETTER_AUTH_SECRET: other }).jwt.secret).toEqual(bytes(other))
    expect(loadConfig({ BETTER_AUTH_SECRET: other, JWT_SECRET: SECRET }).jwt.secret).toEqual(bytes(SECRET))
    expect(loadConfig({ BETTER_AUTH_SECRET: other, NODE_ENV: 'development' }).jwt.developmentSecret).toBe(false)
  })

  test('a short BETTER_AUTH_SECRET in production is refused by its own name', () => {
    const error = configError({ NODE_ENV: 'production', BETTER_AUTH_SECRET: 'short' })
    expect(error.problems.join('\n')).toContain('BETTER_AUTH_SECRET')
  })
})

describe('loadConfig errors', () => {
  test('several bad variables make one ConfigError naming every one of them', () => {
    const error = configError({ JWT_SECRET: SECRET, PORT: 'abc', LOG_LEVEL: 'loud', DB_DRIVER: 'mysql', CORS_ORIGINS: 'not-an-origin' })
    const named = (name: string) => error.problems.filter((p) => p.startsWith(`${name}:`))
    for (const name of ['PORT', 'LOG_LEVEL', 'DB_DRIVER', 'CORS_ORIGINS']) {
      expect(named(name), `${name} in ${JSON.stringify(error.problems)}`).toHaveLength(1)
      expect(error.message).toContain(name)
    }
    expect(error.problems).toHaveLength(4)
  })

  test('a bad variable and a missing key are reported together', () => {
    const error = configError({ PORT: '70000' })
    expect(error.problems.some((p) => p.startsWith('PORT:')), JSON.stringify(error.problems)).toBe(true)
    expect(error.problems.some((p) => p.startsWith('JWT_SECRET:')), JSON.stringify(error.problems)).toBe(true)
  })

  test('ports and seconds must be whole numbers in range', () => {
    for (const PORT of ['abc', '-1', '65536', '80.5', '0x50']) {
      expect(configError({ JWT_SECRET: SECRET, PORT }).problems, PORT).toEqual([expect.stringMatching(/^PORT: /)])
    }
    for (const JWT_CLOCK_SKEW_S of ['soon', '-5', '3601']) {
      expect(configError({ JWT_SECRET: SECRET, JWT_CLOCK_SKEW_S }).problems, JWT_CLOCK_SKEW_S).toEqual([expect.stringMatching(/^JWT_CLOCK_SKEW_S: /)])
    }
  })

  test('CORS_ORIGINS unset: any local port outside production, no origin in production', () => {
    expect(loadConfig({ JWT_SECRET: SECRET, NODE_ENV: 'development' }).corsOrigins).toEqual(['http://localhost:*', 'http://127.0.0.1:*'])
    expect(loadConfig({ JWT_SECRET: SECRET, NODE_ENV: 'production' }).corsOrigins).toEqual([])
    expect(loadConfig({ JWT_SECRET: SECRET, NODE_ENV: 'production', CORS_ORIGINS: 'https://app.example.com' }).corsOrigins).toEqual(['https://app.example.com'])
  })

  test('scheme://host:* stands for any port of that host', () => {
    expect(loadConfig({ JWT_SECRET: SECRET, CORS_ORIGINS: 'http://localhost:*,https://app.example.com' }).corsOrigins).toEqual(['http://localhost:*', 'https://app.example.com'])
    for (const origin of ['http://localhost:*/x', '*.example.com', 'http://localhost:**']) {
      const error = configError({ JWT_SECRET: SECRET, CORS_ORIGINS: origin })
      expect(error.problems, origin).toEqual([expect.stringContaining('CORS_ORIGINS')])
    }
  })

  test('every CORS origin is checked; * is allowed', () => {
    expect(loadConfig({ JWT_SECRET: SECRET, CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*'])
    for (const origin of ['https://app.example.com/', 'https://app.example.com/path', 'ftp://files.example.com', 'app.example.com']) {
      const error = configError({ JWT_SECRET: SECRET, CORS_ORIGINS: `https://ok.example.com,${origin}` })
      expect(error.problems, origin).toEqual([expect.stringContaining('CORS_ORIGINS')])
    }
  })
})

describe('loadConfig result', () => {
  test('the config is frozen, all the way down', () => {
    const config = loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: 'postgres://db.internal/tasks' })
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.jwt)).toBe(true)
    expect(Object.isFrozen(config.database)).toBe(true)
    expect(Object.isFrozen(config.corsOrigins)).toBe(true)
    expect(() => {
      ;(config as { port: number }).port = 1
    }).toThrow(TypeError)
    expect(config.port).toBe(3000)
  })

  test('each call returns its own config from the env it is given', () => {
    const a = loadConfig({ JWT_SECRET: SECRET, PORT: '1111' })
    const b = loadConfig({ JWT_SECRET: SECRET, PORT: '2222' })
    expect([a.port, b.port]).toEqual([1111, 2222])
  })
})

describe('safe defaults', () => {
  test('the development secret listens on this machine only: HOST defaults to 127.0.0.1, and a wider HOST is refused', () => {
    expect(loadConfig({ NODE_ENV: 'development' }).host).toBe('127.0.0.1')
    expect(loadConfig({ NODE_ENV: 'development', HOST: '::1' }).host).toBe('::1')
    expect(loadConfig({ JWT_SECRET: SECRET }).host).toBe('0.0.0.0')
    expect(loadConfig({ NODE_ENV: 'development', JWT_SECRET: SECRET }).host).toBe('0.0.0.0')
    expect(configError({ NODE_ENV: 'development', HOST: '0.0.0.0' }).problems).toEqual([expect.stringMatching(/^HOST: .*development secret.*JWT_SECRET/)])
  })

  test('with no key the error says how to make one, and never suggests NODE_ENV=development', () => {
    const { problems } = configError({})
    expect(problems).toEqual([expect.stringContaining('openssl rand -base64 48')])
    expect(problems[0]).not.toContain('NODE_ENV')
  })

  test('FLY_APP_NAME marks a Fly.io Machine', () => {
    expect(loadConfig({ JWT_SECRET: SECRET }).onFly).toBe(false)
    expect(loadConfig({ JWT_SECRET: SECRET, FLY_APP_NAME: 'taskapi' }).onFly).toBe(true)
  })
})

describe('the variables table', () => {
  test('every variable has a description, and --help lists each with its default', () => {
    const help = describeVariables()
    for (const [name, row] of Object.entries(variables)) {
      expect(row.help.length, name).toBeGreaterThan(0)
      expect(row.must.length, name).toBeGreaterThan(0)
      const line = help.split('\n').find((l) => l.startsWith(`  ${name} `))
      expect(line, name).toBeDefined()
      const fallback = 'defaultText' in row ? row.defaultText : 'default' in row ? row.default : undefined
      if (fallback !== undefined) expect(line, name).toEndWith(`(default: ${fallback})`)
    }
  })

  test('a default goes through the same parser as a value from the environment', () => {
    for (const [name, row] of Object.entries(variables)) {
      if (!('default' in row) || row.default === undefined) continue
      const config = () => loadConfig({ JWT_SECRET: SECRET, [name]: row.default })
      expect(config, name).not.toThrow()
      expect(config(), name).toEqual(loadConfig({ JWT_SECRET: SECRET }))
    }
  })
})
