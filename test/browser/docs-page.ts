// The docs page of the compiled binary in a real browser (run by .ci/run after the tests):
// Debian's Chromium, driven by playwright-core, opens /docs and checks that Swagger UI lists every
// operation of the OpenAPI document and that no request left the machine. Saves screenshots and
// prints their paths. Exit 0 when every check passes, else 1.
//
//   bun run build && bun test/browser/docs-page.ts
import { chromium, type Page } from 'playwright-core'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CHROMIUM, CHROMIUM_FLAGS, createReport, requireFiles } from '../support/browser'
import { repoRoot, startServer, type RunningServer } from '../support/server'

const RENDER_TIMEOUT_MS = 20_000

interface OpenApi {
  paths: Record<string, Record<string, { summary?: string }>>
}

const { check, fail, stop, finish } = createReport('docs page')

const binary = join(repoRoot, 'dist/taskapi')
requireFiles([
  [binary, 'run `bun run build` first'],
  [CHROMIUM, 'apt-get install chromium (or set CHROMIUM_PATH)'],
])

// The binary alone in an empty folder, on a throwaway database.
const folder = mkdtempSync(join(tmpdir(), 'taskapi-browser-'))
copyFileSync(binary, join(folder, 'taskapi'))
const shots = mkdtempSync(join(tmpdir(), 'taskapi-docs-'))
let server: RunningServer | undefined
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS })
try {
  server = await startServer(
    { JWT_SECRET: 'browser-check-secret-long-enough-for-production', DATABASE_URL: 'memory://' },
    [join(folder, 'taskapi'), 'serve'],
    folder,
  )
  const origin = server.url
  const doc = (await (await fetch(`${origin}/docs/json`)).json()) as OpenApi
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method, summary: op.summary ?? '' })),
  )

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  const requests: string[] = []
  const failed: string[] = []
  const errors: string[] = []
  page.on('request', (r) => requests.push(r.url()))
  page.on('requestfailed', (r) => failed.push(`${r.url()}: ${r.failure()?.errorText}`))
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push(`${r.url()}: ${r.status()}`)
  })
  page.on('pageerror', (e) => errors.push(e.message))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${m.text()} (${m.location().url})`)
  })

  const res = await page.goto(`${origin}/docs`, { waitUntil: 'networkidle' })
  check(res?.status() === 200, `GET /docs answered ${res?.status()}`)
  await page.waitForSelector('.opblock', { timeout: RENDER_TIMEOUT_MS })
  await page.waitForLoadState('networkidle')

  check(operations.length >= 8, `the document has ${operations.length} operations`)
  const listed = await listedOperations(page)
  const expected = operations.map((o) => `${o.method.toUpperCase()} ${o.path} ${o.summary}`).sort()
  check(
    JSON.stringify(listed.sort()) === JSON.stringify(expected),
    `the page lists every operation of /docs/json, and only those (${listed.length} of ${expected.length})` +
      (JSON.stringify(listed.sort()) === JSON.stringify(expected) ? '' : `\n      page:     ${JSON.stringify(listed)}\n      document: ${JSON.stringify(expected)}`),
  )
  check(listed.includes('GET /api/v1/tasks List tasks'), 'the page shows "GET /api/v1/tasks List tasks"')
  const title = await page.locator('.info .title').first().textContent()
  check(title?.startsWith('taskapi') === true, `the page title is "${title}"`)
  const intro = (await page.locator('.info .description').first().textContent()) ?? ''
  for (const how of ['Getting a token', 'taskapi token --sub alice', '/api/auth/token', 'Authorize']) {
    check(intro.includes(how), `the page says how to get a token: "${how}"`)
  }
  const icon = await fetch(`${origin}/favicon.ico`)
  check(icon.status === 200 && icon.headers.get('content-type') === 'image/svg+xml' && (await icon.text()).startsWith('<svg'), `/favicon.ico is an icon (${icon.status} ${icon.headers.get('content-type')})`)

  const screenshot = join(shots, 'docs.png')
  await page.screenshot({ path: screenshot, fullPage: true })
  console.log(`screenshot: ${screenshot}`)

  // Open one operation: its parameters render from the document, still with nothing fetched elsewhere.
  await page.locator('.opblock-summary-path[data-path="/api/v1/tasks"]').first().click()
  await page.waitForSelector('.opblock.is-open .parameters', { timeout: RENDER_TIMEOUT_MS })
  const params = await page.locator('.opblock.is-open .parameter__name').allTextContents()
  check(params.some((p) => p.startsWith('status')), `GET /api/v1/tasks shows its query parameters (${params.map((p) => p.trim()).join(', ')})`)
  // Its examples are real values, not Swagger UI's "string" placeholders.
  const examples = (await page.locator('.opblock.is-open .responses-wrapper .example').allTextContents()).join('\n')
  check(examples.includes('"title": "Buy milk"') && examples.includes('"error_code": "VALIDATION_ERROR"'), 'GET /api/v1/tasks shows a real task and a real problem as examples')
  check(!examples.includes('"string"'), `no "string" placeholder in its examples${examples.includes('"string"') ? `:\n${examples.slice(0, 600)}` : ''}`)
  await page.waitForLoadState('networkidle')

  const local = `${origin}/`
  const elsewhere = requests.filter((u) => !u.startsWith(local))
  check(requests.length > 0 && elsewhere.length === 0, `all ${requests.length} requests went to ${local}` + (elsewhere.length ? `; elsewhere: ${elsewhere.join(', ')}` : ''))
  check(
    ['/docs', '/docs/assets/swagger-ui-bundle.js', '/docs/assets/swagger-ui.css', '/docs/json'].every((p) => requests.includes(`${origin}${p}`)),
    `the page loaded /docs, its two assets and /docs/json (${requests.map((u) => u.slice(origin.length)).join(', ')})`,
  )
  check(failed.length === 0, `no request failed${failed.length ? `: ${failed.join(', ')}` : ''}`)
  check(errors.length === 0, `no script errors${errors.length ? `: ${errors.join(' | ')}` : ''}`)

  const opened = join(shots, 'docs-list-tasks.png')
  await page.screenshot({ path: opened, fullPage: true })
  console.log(`screenshot: ${opened}`)
} catch (error) {
  fail(error)
} finally {
  await browser.close()
  await stop(server)
  rmSync(folder, { recursive: true, force: true })
}

finish()

/** "METHOD /path summary" of every operation block Swagger UI rendered. */
async function listedOperations(page: Page): Promise<string[]> {
  return page.locator('.opblock').evaluateAll((blocks) =>
    blocks.map((b) => {
      const method = b.querySelector('.opblock-summary-method')?.textContent?.trim() ?? '?'
      const path = b.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? '?'
      const summary = b.querySelector('.opblock-summary-description')?.textContent?.trim() ?? ''
      return `${method} ${path} ${summary}`
    }),
  )
}
