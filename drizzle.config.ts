import { defineConfig } from 'drizzle-kit'

// drizzle-kit only generates SQL from the schema; the service applies it (src/db/migrate.ts).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
})
