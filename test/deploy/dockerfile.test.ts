// The Dockerfile, checked without a Docker engine: its pins and runtime settings, and its build
// stage replayed step by step (COPY and RUN) in an empty folder, so a missing file in the build
// context or a failing command shows up here rather than in `docker build`.
import { describe, expect, test } from 'bun:test'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config'
import pkg from '../../package.json'
import { repoRoot } from '../support/server'
import { envOf, healthcheckOf, parseDockerfile, type Stage } from './dockerfile'

const stages = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'))
const build = stages.find((s) => s.name === 'build')!
const runtime = stages.at(-1)!
const defaultPort = loadConfig({ JWT_SECRET: 'x'.repeat(32) }).port
const bunVersion = pkg.packageManager.replace(/^bun@/, '')

/** Where the runtime stage puts the binary: the destination of the COPY of dist/taskapi. */
function binaryPath(stage: Stage): string {
  const copy = stage.all('COPY').find((c) => c.words[0]?.endsWith('/dist/taskapi'))
  if (!copy) throw new Error('the runtime stage does not copy dist/taskapi')
  return copy.words.at(-1)!
}

describe('Dockerfile', () => {
  test('has a build stage and a runtime stage', () => {
    expect(stages.length).toBe(2)
    expect(build).toBeDefined()
    expect(runtime).not.toBe(build)
  })

  test("the build stage is the official Bun image at package.json's packageManager version", () => {
    expect(pkg.packageManager).toMatch(/^bun@\d+\.\d+\.\d+$/)
    expect(build.from).toBe(`oven/bun:${bunVersion}`)
    expect(pkg.engines.bun).toBe(bunVersion)
  })

  test('the build stage runs the commands .ci/run runs', () => {
    const runs = build.all('RUN').map((r) => r.args)
    expect(runs).toEqual(['bun install --frozen-lockfile', 'bun run build && mkdir -p data'])
    const ci = readFileSync(join(repoRoot, '.ci/run'), 'utf8').split('\n').map((l) => l.trim())
    expect(ci).toContain('bun install --frozen-lockfile')
    expect(ci).toContain('bun run build')
    expect(pkg.scripts.build).toBe('bun scripts/build.ts')
  })

  test('the runtime stage is a small base holding only the binary and the data folder', () => {
    expect(runtime.from).toMatch(/^gcr\.io\/distroless\/|-slim$/)
    expect(runtime.all('RUN')).toEqual([])
    const copies = runtime.all('COPY').map((c) => ({ from: c.flags.from, words: c.words }))
    expect(copies).toEqual([
      { from: 'build', words: ['/app/dist/taskapi', '/usr/local/bin/taskapi'] },
      { from: 'build', words: ['/app/data', '/data'] },
    ])
  })

  test('the runtime stage runs as a non-root user that owns the data volume', () => {
    const user = runtime.last('USER')?.words[0]
    expect(user).toBeDefined()
    const [uid, gid] = user!.split(':')
    expect(uid).not.toBe('root')
    // Numeric, so Kubernetes' runAsNonRoot can verify it.
    expect(Number(uid)).toBeGreaterThan(0)
    expect(Number(gid)).toBeGreaterThan(0)
    const dataCopy = runtime.all('COPY').find((c) => c.words.at(-1) === '/data')
    expect(dataCopy?.flags.chown).toBe(user)
  })

  test('HEALTHCHECK runs `taskapi healthcheck` and CMD serves, both by the path the binary is copied to', () => {
    const bin = binaryPath(runtime)
    expect(bin).toBe('/usr/local/bin/taskapi')
    const health = healthcheckOf(runtime)
    expect(health?.command).toEqual([bin, 'healthcheck'])
    expect(Object.keys(health?.options ?? {}).sort()).toEqual(['interval', 'retries', 'start-period', 'timeout'])
    expect(runtime.last('CMD')?.words).toEqual([bin, 'serve'])
    // No ENTRYPOINT: Fly's release_command and `docker run IMAGE taskapi migrate` replace CMD whole.
    expect(runtime.all('ENTRYPOINT')).toEqual([])
    expect(envOf(runtime).PATH?.split(':')).toContain('/usr/local/bin')
  })

  test("EXPOSE is the service's port, the volume is DATA_DIR, NODE_ENV is production", () => {
    const env = envOf(runtime)
    expect(runtime.last('EXPOSE')?.words).toEqual([String(defaultPort)])
    expect(env.PORT).toBe(String(defaultPort))
    expect(env.NODE_ENV).toBe('production')
    expect(env.DATA_DIR).toBe('/data')
    expect(runtime.last('VOLUME')?.words).toEqual([env.DATA_DIR!])
    // The image's environment plus a key is a valid configuration with the embedded database in the volume.
    const config = loadConfig({ ...env, JWT_SECRET: 'x'.repeat(48) })
    expect(config).toMatchObject({ production: true, port: defaultPort, host: '0.0.0.0', database: { driver: 'pglite', dataDir: '/data' } })
  })

  test('.dockerignore lets in exactly what the build stage copies', () => {
    const rules = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
    expect(rules[0]).toBe('*')
    const allowed = rules.slice(1).map((r) => {
      expect(r).toStartWith('!')
      return r.slice(1).replace(/\/$/, '')
    })
    const copied = build
      .all('COPY')
      .filter((c) => c.flags.from === undefined)
      .flatMap((c) => c.words.slice(0, -1))
    expect(allowed.sort()).toEqual(copied.map((s) => s.replace(/\/$/, '')).sort())
    for (const secretish of ['.env', 'node_modules', 'dist', 'data', '.git']) expect(allowed).not.toContain(secretish)
  })

  test('replayed without Docker, the build stage makes a binary that runs', async () => {
    const root = mkdtempSync(join(tmpdir(), 'taskapi-docker-'))
    try {
      // The image's filesystem, rooted in the temporary folder.
      const inImage = (path: string) => join(root, path)
      let workdir = '/'
      for (const step of build.instructions) {
        switch (step.keyword) {
          case 'ARG': // a build argument: unset here, as in a build that does not pass it
            break
          case 'WORKDIR':
            workdir = join(workdir, step.words[0]!)
            mkdirSync(inImage(workdir), { recursive: true })
            break
          case 'COPY': {
            const sources = step.words.slice(0, -1)
            const dest = join(inImage(workdir), step.words.at(-1)!)
            for (const source of sources) {
              expect(existsSync(join(repoRoot, source)), `COPY ${source}: not in the repository`).toBe(true)
              const target = step.words.at(-1)!.endsWith('/') ? join(dest, source) : dest
              cpSync(join(repoRoot, source), target, { recursive: true })
            }
            break
          }
          case 'RUN': {
            const r = Bun.spawnSync(['sh', '-c', step.args], {
              cwd: inImage(workdir),
              env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
              stdout: 'pipe',
              stderr: 'pipe',
            })
            expect(r.exitCode, `RUN ${step.args}\n${r.stdout}\n${r.stderr}`).toBe(0)
            break
          }
          default:
            throw new Error(`the replay does not know ${step.keyword}; teach it, or keep the build stage to WORKDIR, COPY and RUN`)
        }
      }
      // What the runtime stage copies out of the build stage is there.
      for (const copy of runtime.all('COPY')) expect(existsSync(inImage(copy.words[0]!)), `COPY --from=build ${copy.words[0]}`).toBe(true)
      expect(readdirSync(inImage('/app/data'))).toEqual([])
      const binary = inImage('/app/dist/taskapi')
      expect(statSync(binary).size).toBeGreaterThan(50_000_000)
      const version = Bun.spawnSync([binary, '--version'], { cwd: root, env: { PATH: '/usr/bin:/bin' } })
      expect(version.exitCode, String(version.stderr)).toBe(0)
      // No .git in the build context, and no TASKAPI_COMMIT build argument here.
      expect(String(version.stdout)).toBe(`${pkg.version} (unknown)\n`)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  }, 180_000)
})
