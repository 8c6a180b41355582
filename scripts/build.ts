// `bun run build`: dist/taskapi, one executable. It embeds a migrated, empty PGlite data folder (a
// gzipped tarball made here, once per build) so a first start on an empty DATA_DIR loads it instead
// of running initdb at run time; migrations newer than the template still apply on top at start.
// It also stamps the commit it was built from, for `taskapi --version`.
import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import { mkdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { TEMPLATE_NAME } from '../src/db/client'
import { migrate, migrations, type Migration } from '../src/db/migrate'

const root = join(import.meta.dir, '..')
const dist = join(root, 'dist')
export const FLAGS = ['--compile', '--minify', '--bytecode', '--format=esm']

/**
 * Writes the template data folder (a gzipped tarball) and returns its path. `list` and `path` are
 * for tests (a template from an older build: fewer migrations).
 */
export async function buildTemplate(list: readonly Migration[] = migrations, path = join(dist, `${TEMPLATE_NAME}.tar.gz`)): Promise<string> {
  mkdirSync(dirname(path), { recursive: true })
  const pg = await PGlite.create()
  try {
    await migrate(drizzle({ client: pg }), list)
    // A checkpoint first, so the tarball holds the migrated tables rather than a WAL to replay.
    await pg.exec('checkpoint')
    await Bun.write(path, await pg.dumpDataDir('gzip'))
    return path
  } finally {
    await pg.close()
  }
}

/**
 * The commit of the working tree (with "-dirty" when it has changes), or TASKAPI_COMMIT where there
 * is no git (a Docker build gets it as a build argument), else "unknown".
 */
export function commit(): string {
  if (process.env.TASKAPI_COMMIT) return process.env.TASKAPI_COMMIT
  const head = Bun.spawnSync(['git', 'rev-parse', '--short=12', 'HEAD'], { cwd: root, stdout: 'pipe', stderr: 'ignore' })
  if (head.exitCode !== 0) return 'unknown'
  const dirty = Bun.spawnSync(['git', 'status', '--porcelain', '--untracked-files=no'], { cwd: root, stdout: 'pipe', stderr: 'ignore' })
  return head.stdout.toString().trim() + (dirty.stdout.toString().trim() ? '-dirty' : '')
}

/** Compiles src/index.ts with the template into `outfile` (for `target`, default this machine). */
export function buildBinary(template: string, outfile: string, target?: string) {
  rmSync(outfile, { force: true })
  const args = [
    'bun', 'build', ...FLAGS,
    ...(target ? [`--target=bun-${target}`] : []),
    `--define=BUILD_COMMIT=${JSON.stringify(commit())}`,
    // The template keeps its name inside the binary, where Bun.embeddedFiles finds it.
    '--asset-naming=[name].[ext]',
    'src/index.ts', template,
    '--outfile', outfile,
  ]
  const build = Bun.spawnSync(args, { cwd: root, stdout: 'pipe', stderr: 'pipe' })
  if (build.exitCode !== 0) throw new Error(`bun build failed\n${build.stdout}\n${build.stderr}`)
}

if (import.meta.main) {
  const template = await buildTemplate()
  buildBinary(template, join(dist, 'taskapi'))
  console.log(`dist/taskapi (${commit()})`)
}
