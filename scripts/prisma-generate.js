// Runs `prisma generate`. authd never runs Prisma's schema engine (migrations are applied by
// `authd migrate`), and generate only needs the bundled wasm, but the Prisma CLI insists on an
// engine path and tries to download one where none is set. Any existing file satisfies it.
import { spawnSync } from 'node:child_process';

const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;
const result = spawnSync('prisma', ['generate'], { stdio: 'inherit', env, shell: process.platform === 'win32' });
if (result.error) console.error(`prisma generate could not start: ${result.error.message}`);
process.exit(result.status ?? 1);
