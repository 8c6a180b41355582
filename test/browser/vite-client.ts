// A frontend developer's first hour, in CI (run by .ci/run after the tests): packs taskapi-client,
// makes a fresh Vite 7 + React + TypeScript project from the official template in a temporary
// folder (its tsconfig left as it comes), installs the tarball with one `npm i`, adds the README's
// frontend example and an app (test/browser/vite-app/), type-checks and builds it with the
// template's own scripts, serves it with `vite preview`, and in Debian's headless Chromium signs a
// token, creates, lists (two pages), toggles and deletes tasks against the compiled binary started
// in development with nothing configured, and shows a typed 400 message. Then a request refused
// by CORS (the binary in production, CORS_ORIGINS unset) must be a NetworkError, not a 503. Exit 0
// when every check passes, else 1.
//
//   bun run build && bun test/browser/vite-client.ts
import { chromium } from 'playwright-core'
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CHROMIUM, CHROMIUM_FLAGS, createReport, requireFiles } from '../support/browser'
import { repoRoot, startServer, type RunningServer } from '../support/server'
import pkg from '../../package.json'

// The official template of Vite 7, from the npm registry.
const CREATE_VITE = 'vite@7'
const STEP_TIMEOUT_MS = 15_000
const TEMPLATE_TSC_MAJOR = '5'

const { check, fail, stop, finish } = createReport('vite client')

const binary = join(repoRoot, 'dist/taskapi')
requireFiles([
  [binary, 'run `bun run build` first'],
  [CHROMIUM, 'apt-get install chromium (or set CHROMIUM_PATH)'],
])

const npmEnv = { ...process.env, npm_config_yes: 'true', npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' }
/** Runs a command, printing its output only when it fails; returns whether it succeeded. */
function run(what: string, command: string[], cwd: string): boolean {
  const started = performance.now()
  const r = Bun.spawnSync(command, { cwd, env: npmEnv, stdout: 'pipe', stderr: 'pipe' })
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  const ok = r.exitCode === 0
  check(ok, `${what} (${command.join(' ')}, ${seconds} s)`)
  if (!ok) console.log(`${r.stdout.toString()}\n${r.stderr.toString()}`.trim().split('\n').slice(-60).join('\n'))
  return ok
}

/** The README's frontend example: the ```ts block after the "vite-check" marker. */
function readmeExample(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const m = /<!-- vite-check[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(readme)
  if (!m) throw new Error('README.md has no <!-- vite-check --> example')
  return m[1]!
}

async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = server.port
  server.stop(true)
  return port
}

const work = mkdtempSync(join(tmpdir(), 'taskapi-vite-'))
const app = join(work, 'app')
let server: RunningServer | undefined
/** A production service with CORS_ORIGINS unset: closed to the page's origin. */
let closed: RunningServer | undefined
let preview: ReturnType<typeof Bun.spawn> | undefined
try {
  // 1. The package, exactly as a frontend developer gets it.
  if (!run('bun run build:client packs the client', ['bun', 'run', 'build:client'], repoRoot)) throw new Error('no client package')
  const tarball = join(repoRoot, `dist/taskapi-client-${pkg.version}.tgz`)
  const size = Bun.file(tarball).size
  check(size > 0 && size < 100_000, `the tarball is small (${(size / 1024).toFixed(1)} KB)`)

  // 2. A fresh project from the official template; its tsconfig files stay as they come.
  if (!run(`npm create ${CREATE_VITE} app -- --template react-ts`, ['npm', 'create', CREATE_VITE, 'app', '--', '--template', 'react-ts'], work)) {
    throw new Error('no Vite project')
  }
  const template = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
  check(/^\^7\./.test(template.devDependencies.vite ?? ''), `the template uses Vite 7 (${template.devDependencies.vite})`)
  const tsconfigs = Object.fromEntries(readdirSync(app).filter((f) => f.startsWith('tsconfig')).map((f) => [f, readFileSync(join(app, f), 'utf8')]))

  // 3. The README's one line, then the README's example and the app beside the template's files.
  if (!run('npm i <the tarball> (the README\'s line)', ['npm', 'i', tarball], app)) throw new Error('install failed')
  const installed = JSON.parse(readFileSync(join(app, 'node_modules/taskapi-client/package.json'), 'utf8')) as { peerDependencies: Record<string, string> }
  check(
    JSON.stringify(Object.keys(installed.peerDependencies).sort()) === '["@elysiajs/eden","elysia"]',
    `its peer dependencies are only @elysiajs/eden and elysia (${JSON.stringify(installed.peerDependencies)})`,
  )
  const serverOnly = ['@electric-sql/pglite', '@neondatabase/serverless', 'drizzle-orm', 'jose', 'swagger-ui-dist'].filter((p) => existsSync(join(app, 'node_modules', p)))
  check(serverOnly.length === 0, `no server dependency was installed${serverOnly.length ? `: ${serverOnly.join(', ')}` : ''}`)
  writeFileSync(join(app, 'src/readme-example.ts'), readmeExample())
  copyFileSync(join(import.meta.dir, 'vite-app/App.tsx'), join(app, 'src/App.tsx'))
  copyFileSync(join(import.meta.dir, 'vite-app/contract.ts'), join(app, 'src/contract.ts'))

  // 4. The template's own type-check and build (tsc -b && vite build), with the template's
  // TypeScript, then the same type-check with TypeScript 7 (this repository's).
  const tsc = (JSON.parse(readFileSync(join(app, 'node_modules/typescript/package.json'), 'utf8')) as { version: string }).version
  check(tsc.startsWith(`${TEMPLATE_TSC_MAJOR}.`), `the template's TypeScript is ${tsc}`)
  if (!run(`npm run build type-checks with zero errors (TypeScript ${tsc}) and builds`, ['npm', 'run', 'build'], app)) throw new Error('build failed')
  const ts7 = join(repoRoot, 'node_modules/.bin/tsc')
  run('the same project type-checks with TypeScript 7', [ts7, '-b', '--force'], app)
  const after = Object.fromEntries(Object.keys(tsconfigs).map((f) => [f, readFileSync(join(app, f), 'utf8')]))
  check(JSON.stringify(after) === JSON.stringify(tsconfigs), `the template's ${Object.keys(tsconfigs).join(', ')} are unchanged`)

  // 5. The binary in development with nothing configured (no CORS_ORIGINS, the development secret).
  const folder = join(work, 'service')
  Bun.spawnSync(['mkdir', '-p', folder])
  copyFileSync(binary, join(folder, 'taskapi'))
  const env = { NODE_ENV: 'development', DATABASE_URL: 'memory://' }
  server = await startServer(env, [join(folder, 'taskapi'), 'serve'], folder)
  const user = `vite_${crypto.randomUUID().slice(0, 8)}`
  const minted = Bun.spawnSync([join(folder, 'taskapi'), 'token', '--sub', user, '--ttl', '15m'], {
    cwd: folder,
    env: { PATH: process.env.PATH ?? '', ...env },
  })
  const token = minted.stdout.toString().trim()
  check(minted.exitCode === 0 && token.split('.').length === 3, `taskapi token signed a token for ${user}`)

  const port = await freePort()
  const dead = `http://127.0.0.1:${await freePort()}`
  // vite itself, not through npx: killing npx would leave vite serving.
  preview = Bun.spawn([join(app, 'node_modules/.bin/vite'), 'preview', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], { cwd: app, env: npmEnv, stdout: 'ignore', stderr: 'ignore' })
  const site = `http://127.0.0.1:${port}`
  const deadline = Date.now() + STEP_TIMEOUT_MS
  while (!(await fetch(site).then((r) => r.ok, () => false))) {
    if (Date.now() > deadline) throw new Error('vite preview did not answer')
    await Bun.sleep(100)
  }

  // 6. The app in Chromium.
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS })
  try {
    const page = await browser.newPage()
    const errors: string[] = []
    const elsewhere: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => {
      // Chromium itself logs the refused connection and the CORS refusal of the offline checks, and the
      // blank title's 400.
      const expected =
        m.location().url.startsWith(dead) ||
        (closed !== undefined && (m.text().includes('CORS policy') || m.location().url.startsWith(closed.url))) ||
        (m.location().url === `${server!.url}/api/v1/tasks` && m.text().includes('status of 400'))
      if (m.type() === 'error' && !expected) errors.push(`${m.text()} (${m.location().url})`)
    })
    page.on('request', (r) => {
      if (![site, server!.url, dead, closed?.url].some((o) => r.url().startsWith(`${o}/`))) elsewhere.push(r.url())
    })
    const message = page.getByTestId('message')
    const items = page.locator('li')
    const wait = { timeout: STEP_TIMEOUT_MS }
    const step = async (what: string, action: () => Promise<unknown>) => {
      try {
        await action()
        check(true, what)
      } catch (error) {
        check(false, `${what}: ${String(error).split('\n')[0]} (message: "${await message.textContent().catch(() => '?')}")`)
      }
    }

    await page.goto(`${site}/?${new URLSearchParams({ api: server.url, token, offline: dead })}`)
    await step('the app lists the (empty) task list from another origin with no CORS_ORIGINS set', () => message.getByText('ready', { exact: true }).waitFor(wait))
    for (const title of ['Write the report', 'Call the bank', 'Water the plants']) {
      await page.getByLabel('title').fill(title)
      await page.getByRole('button', { name: 'Add' }).click()
      await step(`creates "${title}"`, () => page.getByText(title, { exact: true }).waitFor(wait))
    }
    await step('lists all three, in order, over two pages of two (the Link header)', async () => {
      await page.getByTestId('pages').getByText('pages: 2').waitFor(wait)
      const titles = await items.locator('span').allTextContents()
      if (JSON.stringify(titles) !== JSON.stringify(['Write the report', 'Call the bank', 'Water the plants'])) throw new Error(`listed ${JSON.stringify(titles)}`)
    })
    await step('shows the created task\'s timestamp as the string on the wire', () =>
      message.getByText(/^created Water the plants at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/).waitFor(wait),
    )
    // click, not check(): the box follows the service's answer, so it changes after the reload.
    await page.getByLabel('done: Call the bank').click()
    await step('toggles "Call the bank" to completed', () => items.filter({ hasText: 'Call the bank' }).and(page.locator('[data-completed=true]')).waitFor(wait))
    await page.getByRole('button', { name: 'Delete Write the report' }).click()
    await step('deletes "Write the report"', () => page.getByText('Write the report', { exact: true }).waitFor({ state: 'detached', ...wait }))
    await page.getByLabel('title').fill('   ')
    await page.getByRole('button', { name: 'Add' }).click()
    await step('a blank title shows the typed 400 message', () =>
      message.getByText('title: must be 1 to 200 characters after trimming, with no NUL characters', { exact: true }).waitFor(wait),
    )
    await page.getByRole('button', { name: 'Offline check' }).click()
    await step('an address with nothing listening is a NetworkError, not a 503', () => message.getByText('offline: NetworkError', { exact: true }).waitFor(wait))

    // A real CORS refusal: the binary in production with CORS_ORIGINS unset answers, but the
    // browser withholds the answer from this page's origin.
    closed = await startServer({ NODE_ENV: 'production', JWT_SECRET: 'vite-check-secret-long-enough-for-production', DATABASE_URL: 'memory://' }, [join(folder, 'taskapi'), 'serve'], folder)
    await page.goto(`${site}/?${new URLSearchParams({ api: server.url, token, offline: closed.url })}`)
    await message.getByText('ready', { exact: true }).waitFor(wait)
    await page.getByRole('button', { name: 'Offline check' }).click()
    await step('a request the service\'s CORS refuses is a NetworkError, not a 503', () => message.getByText('offline: NetworkError', { exact: true }).waitFor(wait))
    check(
      closed.logs.some((l) => l.message === 'request' && l.route === '/api/v1/tasks' && l.status === 401),
      'the production service did answer it (401, no token), and the browser kept the answer from the page',
    )

    // What the browser did is what the service holds.
    const held = (await (await fetch(`${server.url}/api/v1/tasks?sort=created_at`, { headers: { authorization: `Bearer ${token}` } })).json()) as { title: string; completed: boolean }[]
    check(
      JSON.stringify(held.map((t) => [t.title, t.completed])) === JSON.stringify([['Call the bank', true], ['Water the plants', false]]),
      `the service holds what the page shows (${JSON.stringify(held.map((t) => [t.title, t.completed]))})`,
    )
    check(errors.length === 0, `no script errors${errors.length ? `: ${errors.join(' | ')}` : ''}`)
    check(elsewhere.length === 0, `no request left the page, the service and the offline address${elsewhere.length ? `: ${elsewhere.join(', ')}` : ''}`)
    const shot = join(mkdtempSync(join(tmpdir(), 'taskapi-vite-shot-')), 'vite-app.png')
    await page.screenshot({ path: shot, fullPage: true })
    console.log(`screenshot: ${shot}`)
  } finally {
    await browser.close()
  }
} catch (error) {
  fail(error)
} finally {
  preview?.kill()
  await stop(server)
  await stop(closed)
  rmSync(work, { recursive: true, force: true })
}

finish()
