import { defineConfig } from 'prisma/config';

// `prisma generate` needs no database; the URL matters only to Prisma's own migrate commands.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL },
});
