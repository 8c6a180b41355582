// The compiled binary (dist/taskapi, from `bun run build`), copied alone into an empty folder and
// run from there: no node_modules, no drizzle/, no source beside it. CI builds it first (.ci/run);
// elsewhere the first test file that asks builds it, once per test run.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../support/server'

export const SECRET = 'binary-test-secret-that-is-long-enough-for-production'
export const COMMAND_MS = 60_000
const built = join(repoRoot, 'dist/taskapi')

let building: Promise<void> | undefined
function build(): Promise<void> {
  building ??= (async () => {
    if (process.env.CI === 'true') {
      if (!existsSync(built)) throw new Error(`CI=true but ${built} is missing: .ci/run builds it with \`bun run build\` before the tests`)
      return
    }
    const proc = Bun.spawn(['bun', 'run', 'build'], { cwd: repoRoot, stdout: 'pipe', stderr: 'pipe' })
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    if (code !== 0) throw new Error(`bun run build failed:\n${out}\n${err}`)
  })()
  return building
}

/** A fresh folder holding only a copy of the binary. */
export async function binaryFolder(): Promise<{ folder: string; binary: string }> {
  await build()
  const folder = mkdtempSync(join(tmpdir(), 'taskapi-binary-'))
  const binary = join(folder, 'taskapi')
  copyFileSync(built, binary)
  if ((statSync(binary).mode & 0o111) === 0) throw new Error(`${binary} is not executable`)
  if (readdirSync(folder).join() !== 'taskapi') throw new Error(`${folder} holds more than the binary`)
  return { folder, binary }
}

/** Runs the binary to completion with only PATH, HOME and `env` in its environment. */
export async function run(binary: string, args: string[], env: Record<string, string> = {}, cwd: string) {
  const proc = Bun.spawn([binary, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  // A command that should exit but serves instead must not hang the suite.
  const timer = setTimeout(() => proc.kill('SIGKILL'), COMMAND_MS - 5_000)
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  clearTimeout(timer)
  return { stdout, stderr, code, output: `taskapi ${args.join(' ')}: exit ${code}\nstdout: ${stdout}\nstderr: ${stderr}` }
}
