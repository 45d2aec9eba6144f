import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../support/cli.js';

/** loadRuntimeConfig in a process of its own (jest's process.env is not the one .env is read into). */
function runtimeConfig(dotEnv: string, env: Record<string, string> = {}): Record<string, unknown> {
  const context = pathToFileURL(join(ROOT, 'dist', 'src', 'cli', 'context.js')).href;
  const script = `import { loadRuntimeConfig } from ${JSON.stringify(context)}; process.stdout.write(JSON.stringify(loadRuntimeConfig(${JSON.stringify(dotEnv)})));`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe('loadRuntimeConfig', () => {
  let dotEnv: string;
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'authd-dotenv-'));
    dotEnv = join(dir, '.env');
    await writeFile(dotEnv, 'LOGIN_MAX_FAILURES=7\nUV_THREADPOOL_SIZE=64\n');
  });
  afterAll(() => rm(join(dotEnv, '..'), { recursive: true, force: true }));

  it('reads .env, but not a UV_THREADPOOL_SIZE there: it comes too late for libuv', () => {
    expect(runtimeConfig(dotEnv)).toMatchObject({ loginMaxFailures: 7, threadpoolSize: 4 });
  });

  it('takes UV_THREADPOOL_SIZE from the environment the process started with', () => {
    expect(runtimeConfig(dotEnv, { UV_THREADPOOL_SIZE: '9' })).toMatchObject({ loginMaxFailures: 7, threadpoolSize: 9 });
  });
});
