import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config/config.js';
import { ROOT } from '../support/cli.js';

/** loadRuntimeConfig in a process of its own (jest's process.env is not the one .env is read into). */
function runtimeConfig(dotEnv: string, env: Record<string, string> = {}): { config?: Record<string, unknown>; error?: string } {
  const context = pathToFileURL(join(ROOT, 'dist', 'src', 'cli', 'context.js')).href;
  const script = `import { loadRuntimeConfig } from ${JSON.stringify(context)};
    try { process.stdout.write(JSON.stringify({ config: loadRuntimeConfig(${JSON.stringify(dotEnv)}) })); }
    catch (error) { process.stdout.write(JSON.stringify({ error: error.name + ': ' + error.message })); }`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as { config?: Record<string, unknown>; error?: string };
}

describe('loadRuntimeConfig and UV_THREADPOOL_SIZE', () => {
  let dir: string;
  const dotEnv = (name: string) => join(dir, name);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'authd-dotenv-'));
    await writeFile(dotEnv('plain.env'), 'LOGIN_MAX_FAILURES=7\n');
    await writeFile(dotEnv('threadpool.env'), 'LOGIN_MAX_FAILURES=7\nUV_THREADPOOL_SIZE=64\n');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('takes it from the environment the process started with, and reads .env for the rest', () => {
    expect(runtimeConfig(dotEnv('threadpool.env'), { UV_THREADPOOL_SIZE: '9' }).config).toMatchObject({ loginMaxFailures: 7, threadpoolSize: 9 });
    expect(runtimeConfig(dotEnv('plain.env')).config).toMatchObject({ loginMaxFailures: 7, threadpoolSize: 4 });
  });

  it('refuses it from .env alone: Node may have sized its threadpool before .env was read', () => {
    expect(runtimeConfig(dotEnv('threadpool.env')).error).toBe(
      'ConfigError: UV_THREADPOOL_SIZE is set in .env: set it in the environment authd starts with (or node --env-file), which Node reads before sizing its threadpool',
    );
  });

  it('refuses it empty, which Node reads as one thread', () => {
    expect(runtimeConfig(dotEnv('plain.env'), { UV_THREADPOOL_SIZE: '' }).error).toBe(
      'ConfigError: UV_THREADPOOL_SIZE is empty (Node then runs one threadpool thread): unset it or give a number',
    );
  });
});

describe('.env.example', () => {
  const example = join(ROOT, '.env.example');

  it('names every variable, set or commented out, and nothing else', () => {
    const named = [...readFileSync(example, 'utf8').matchAll(/^#? ?([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]);
    expect([...named].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });

  it('copied as it is, gives the default configuration with its database and Redis', () => {
    const { config, error } = runtimeConfig(example);
    expect(error).toBeUndefined();
    const defaults = loadConfig({ DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/authd', REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(config).toEqual(JSON.parse(JSON.stringify(defaults)));
  });
});
