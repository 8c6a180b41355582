// Standalone reproduction of Bun's HTTP/1.1 pipelining fault (1.4.5), with no dependency, to file
// or re-check upstream: two pipelined GETs to a Bun.serve whose handler awaits anything get no
// answer at all; the connection just closes. With a synchronous handler both are answered.
//   bun bench/pipelining-repro.ts
export {}
for (const kind of ['sync', 'async'] as const) {
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: kind === 'sync' ? () => new Response('ok') : async () => (await Bun.sleep(1), new Response('ok')),
  })
  const host = server.url.host
  const got = await new Promise<string>((resolve) => {
    let text = ''
    Bun.connect({
      hostname: '127.0.0.1',
      port: server.port!,
      socket: {
        open: (s) => void s.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\nGET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
        data: (_, d) => void (text += d.toString()),
        close: () => resolve(text),
        error: () => resolve(text),
      },
    })
  })
  console.log(`Bun ${Bun.version}, ${kind} handler: ${(got.match(/HTTP\/1\.1 200/g) ?? []).length} of 2 pipelined requests answered`)
  server.stop(true)
}
