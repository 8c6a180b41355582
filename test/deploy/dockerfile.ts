// Reads the project's Dockerfile into stages of instructions, enough for the deploy tests to check
// it and to replay its build stage without a Docker engine. Handles what the Dockerfile uses:
// comments, `\` continuations, flags (--from=, --chown=, --interval=…) and JSON (exec) forms.

export interface Instruction {
  keyword: string
  /** Everything after the keyword, continuations joined. */
  args: string
  /** Leading --name=value flags. */
  flags: Record<string, string>
  /** The rest after the flags, split on whitespace (or parsed, when it is a JSON array). */
  words: string[]
}

export interface Stage {
  from: string
  name?: string
  instructions: Instruction[]
  /** The instructions with this keyword, in order. */
  all(keyword: string): Instruction[]
  /** The last instruction with this keyword (Docker keeps the last CMD, USER, HEALTHCHECK…). */
  last(keyword: string): Instruction | undefined
}

export function parseDockerfile(text: string): Stage[] {
  const lines: string[] = []
  let pending = ''
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd()
    if (pending === '' && /^\s*#/.test(line)) continue
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' '
      continue
    }
    const full = (pending + line).trim()
    pending = ''
    if (full !== '') lines.push(full)
  }

  const stages: Stage[] = []
  for (const line of lines) {
    const [, keyword = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? []
    const instruction = parseInstruction(keyword.toUpperCase(), rest)
    if (instruction.keyword === 'FROM') {
      const [from = '', as, name] = instruction.words
      stages.push(stage(from, as?.toUpperCase() === 'AS' ? name : undefined))
    } else {
      const current = stages.at(-1)
      if (!current) throw new Error(`Dockerfile: ${keyword} before FROM`)
      current.instructions.push(instruction)
    }
  }
  return stages
}

function stage(from: string, name: string | undefined): Stage {
  const instructions: Instruction[] = []
  return {
    from,
    name,
    instructions,
    all: (keyword) => instructions.filter((i) => i.keyword === keyword),
    last: (keyword) => instructions.findLast((i) => i.keyword === keyword),
  }
}

function parseInstruction(keyword: string, args: string): Instruction {
  const flags: Record<string, string> = {}
  let rest = args
  for (let m = /^--([\w-]+)=(\S+)\s*/.exec(rest); m; m = /^--([\w-]+)=(\S+)\s*/.exec(rest)) {
    flags[m[1]!] = m[2]!
    rest = rest.slice(m[0].length)
  }
  let words: string[]
  if (rest.startsWith('[')) words = JSON.parse(rest) as string[]
  else words = rest.split(/\s+/).filter(Boolean)
  return { keyword, args, flags, words }
}

/** `ENV A=1 B=2` pairs of a stage, later ones winning. */
export function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {}
  for (const i of stage.all('ENV')) {
    for (const word of i.words) {
      const eq = word.indexOf('=')
      if (eq > 0) env[word.slice(0, eq)] = word.slice(eq + 1)
    }
  }
  return env
}

/** HEALTHCHECK's options and its command (exec form). */
export function healthcheckOf(stage: Stage): { options: Record<string, string>; command: string[] } | undefined {
  const h = stage.last('HEALTHCHECK')
  if (!h) return undefined
  const [cmd, ...rest] = h.args.replace(/^(--[\w-]+=\S+\s+)*/, '').split(/\s+/)
  if (cmd?.toUpperCase() !== 'CMD') throw new Error(`HEALTHCHECK without CMD: ${h.args}`)
  const json = h.args.slice(h.args.indexOf('['))
  return { options: h.flags, command: rest[0]?.startsWith('[') ? (JSON.parse(json) as string[]) : rest }
}
