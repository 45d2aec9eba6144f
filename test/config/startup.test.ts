import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the built entry point (npm test builds first) with only the given environment. */
function start(env: Record<string, string>) {
  return spawnSync(process.execPath, [join(ROOT, 'dist', 'src', 'main.js')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('start-up with a bad configuration', () => {
  it.each([
    [{ PORT: 'abc' }, 'authd: configuration error: PORT must be a whole number (got "abc")'],
    [{ ACCESS_TOKEN_TTL: '-5' }, 'authd: configuration error: ACCESS_TOKEN_TTL must be at least 60 (got "-5")'],
    [{ CORS_ORIGINS: '*' }, 'authd: configuration error: CORS_ORIGINS must list exact origins like https://app.example.com (scheme, host, optional port; no path, no *) (got "*")'],
    [{ DATABASE_URL: 'postgres//oops' }, 'authd: configuration error: DATABASE_URL must be a URL with scheme postgres:// or postgresql:// (got "postgres//oops")'],
  ])('%j stops with one line and exit code 1', (env, line) => {
    const result = start(env);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`${line}\n`);
  });
});
