// `bun run build:release`: the binary for every platform we ship, cross-compiled into dist/ with
// the same flags as `bun run build`, plus dist/SHA256SUMS (check with `sha256sum -c SHA256SUMS`).
// Bun fetches each target's runtime from the npm registry on first use.
import { createHash } from 'node:crypto'
import { mkdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import pkg from '../package.json'

const root = join(import.meta.dir, '..')
const dist = join(root, 'dist')
const targets = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'darwin-x64', 'windows-x64'] as const
// The flags of package.json's "build" script, so a release runs what CI tested.
const flags = ['--compile', '--minify', '--bytecode', '--format=esm']

mkdirSync(dist, { recursive: true })
const sums: string[] = []
for (const target of targets) {
  const name = `taskapi-${target}${target.startsWith('windows') ? '.exe' : ''}`
  const outfile = join(dist, name)
  rmSync(outfile, { force: true })
  const started = performance.now()
  const build = Bun.spawnSync(['bun', 'build', ...flags, `--target=bun-${target}`, 'src/index.ts', '--outfile', outfile], {
    cwd: root,
    stdout: 'pipe',
    stderr: 'pipe',
  })
  if (build.exitCode !== 0) {
    console.error(`${name}: bun build failed\n${build.stdout}\n${build.stderr}`)
    process.exit(1)
  }
  const hash = createHash('sha256')
  for await (const chunk of Bun.file(outfile).stream()) hash.update(chunk)
  const sum = hash.digest('hex')
  sums.push(`${sum}  ${name}`)
  const mb = (statSync(outfile).size / 1e6).toFixed(1)
  console.log(`${name.padEnd(26)} ${mb.padStart(6)} MB  ${((performance.now() - started) / 1000).toFixed(1)} s  sha256 ${sum}`)
}
await Bun.write(join(dist, 'SHA256SUMS'), sums.join('\n') + '\n')
console.log(`taskapi ${pkg.version}: ${targets.length} binaries and SHA256SUMS in dist/`)
