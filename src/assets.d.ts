// Files embedded with `import … with { type: "file" }` are imported as their path.
declare module 'swagger-ui-dist/*' {
  const path: string
  export default path
}
