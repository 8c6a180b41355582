// The client's address: from the socket, unless TRUST_PROXY names the header a trusted proxy sets
// (Fly-Client-IP, X-Forwarded-For…). Behind no proxy, such a header is the client's own say-so,
// so it is never read unless configured.
import type { Server } from 'bun'

export function clientAddress(request: Request, server: Server<unknown> | null | undefined, trustProxy?: string): string | null {
  if (trustProxy) {
    const value = request.headers.get(trustProxy)
    if (value) {
      // X-Forwarded-For grows to the right: the last entry is the one our proxy added.
      const address = trustProxy === 'x-forwarded-for' ? value.split(',').at(-1)!.trim() : value.trim()
      if (address) return address.slice(0, 64)
    }
  }
  return server?.requestIP(request)?.address ?? null
}
