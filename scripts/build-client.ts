// `bun run build:client`: packs taskapi-client (client/) into dist/taskapi-client-<version>.tgz.
// The package holds index.js (the thin Eden wrapper, bundled for browsers, Eden left as a peer),
// index.d.ts, and app.d.ts: the App type as one declaration file that imports only `elysia`. It
// fails if a declaration still points at the server's source or any package but the two peers.
import { $ } from 'bun'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pkg from '../package.json'

const root = join(import.meta.dir, '..')
const peers = { '@elysiajs/eden': '^1.4.9', elysia: '^1.4.30' }

const work = mkdtempSync(join(tmpdir(), 'taskapi-client-'))
const out = join(work, 'package')
try {
  await $`bunx tsc -p ${join(root, 'client')} --outDir ${join(work, 'types')}`.cwd(root)
  const built = await Bun.build({
    entrypoints: [join(root, 'client/index.ts')],
    outdir: out,
    target: 'browser',
    format: 'esm',
    external: Object.keys(peers),
  })
  if (!built.success) throw new AggregateError(built.logs, 'bundling client/index.ts failed')

  for (const name of ['app.d.ts', 'index.d.ts']) {
    const text = readFileSync(join(work, 'types/client', name), 'utf8')
    const imports = [...text.matchAll(/(?:from\s+|import\()['"]([^'"]+)['"]/g)].map((m) => m[1]!)
    const stray = imports.filter((i) => !(i in peers) && i !== './app')
    if (stray.length > 0) throw new Error(`${name} imports ${stray.join(', ')}: it must need only ${Object.keys(peers).join(' and ')}`)
    writeFileSync(join(out, name), text)
  }

  writeFileSync(
    join(out, 'package.json'),
    JSON.stringify(
      {
        name: 'taskapi-client',
        version: pkg.version,
        description: 'Typed client for taskapi: Eden treaty with the App type, bearer tokens, Link paging',
        type: 'module',
        exports: { '.': { types: './index.d.ts', import: './index.js' } },
        types: './index.d.ts',
        sideEffects: false,
        files: ['index.js', 'index.d.ts', 'app.d.ts', 'README.md'],
        peerDependencies: peers,
      },
      null,
      2,
    ) + '\n',
  )
  writeFileSync(join(out, 'README.md'), readFileSync(join(root, 'client/README.md'), 'utf8'))

  const dist = join(root, 'dist')
  await $`mkdir -p ${dist} && bun pm pack --destination ${dist} --quiet`.cwd(out)
} finally {
  rmSync(work, { recursive: true, force: true })
}
