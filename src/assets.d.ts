// Files embedded with `import … with { type: "file" }` are imported as their path.
declare module 'swagger-ui-dist/*' {
  const path: string
  export default path
}

// PGlite's runtime files (src/db/client.ts embeds them the same way).
declare module '@electric-sql/pglite/pglite.wasm' {
  const path: string
  export default path
}
declare module '@electric-sql/pglite/initdb.wasm' {
  const path: string
  export default path
}
declare module '@electric-sql/pglite/pglite.data' {
  const path: string
  export default path
}
