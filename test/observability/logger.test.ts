import { spawnSync } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchedOutput, createLogger, describeError, flushLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { ROOT } from '../support/cli.js';
import { captureLogs } from '../support/logs.js';

describe('logger', () => {
  it('redacts secrets logged by accident at the top level and in headers', () => {
    const logs = captureLogs();
    logs.logger.info(
      { password: 'hunter2', client_secret: 's3', refresh_token: 'rt_x', headers: { authorization: 'Basic abc' }, req: { headers: { authorization: 'Bearer t' } } },
      'oops',
    );
    expect(logs.lines[0]).toMatchObject({
      password: '[redacted]',
      client_secret: '[redacted]',
      refresh_token: '[redacted]',
      headers: { authorization: '[redacted]' },
      req: { headers: { authorization: '[redacted]' } },
    });
    expect(logs.raw()).not.toMatch(/hunter2|Basic abc|Bearer t/);
  });

  it('describes unexpected errors without token-like strings', () => {
    const error = Object.assign(new Error('duplicate key token_hash=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'), { code: 'P2002' });
    const described = describeError(error);
    expect(described).toMatchObject({ type: 'Error', code: 'P2002', message: 'duplicate key [redacted]' });
    expect(JSON.stringify(described)).not.toContain('9f86d081884c7d659a2feaa0c55ad015');
  });

  it('drops and counts the lines past its buffer while the output has not taken the earlier ones, and flushes all it kept', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'authd-log-'));
    const file = join(dir, 'out.log');
    const output = batchedOutput({ fd: openSync(file, 'w'), maxBufferedBytes: 8192 });
    // Ends the output, which closes the file.
    const stream = output.stream as unknown as { end(): void; once(event: 'close', listener: () => void): void };
    try {
      const logger = createLogger('info', output.stream);
      // ~40 KB in one turn of the event loop: the first write cannot have finished before the last line.
      for (let i = 0; i < 200; i += 1) logger.info({ i, padding: 'x'.repeat(150) }, 'request');
      await flushLogger(logger);

      const kept = (await readFile(file, 'utf8')).trim().split('\n').map((line) => (JSON.parse(line) as { i: number }).i);
      expect(output.droppedLines()).toBeGreaterThan(100);
      expect(kept.length + output.droppedLines()).toBe(200);
      expect(kept).toEqual([...kept.keys()]);
      logger.info({ i: 200 }, 'after the flush');
      await flushLogger(logger);
      expect(await readFile(file, 'utf8')).toContain('"i":200');
    } finally {
      await new Promise<void>((resolve) => {
        stream.once('close', resolve);
        stream.end();
      });
      await rm(dir, { recursive: true });
    }
  });

  it('exports the dropped lines and refused writes at each scrape', async () => {
    const output = { dropped: 3, failed: 0, droppedLines: () => output.dropped, failedWrites: () => output.failed };
    const metrics = createMetrics({ defaultMetrics: false, logOutput: output });
    const scrape = await metrics.registry.metrics();
    expect(scrape).toContain('authd_log_lines_dropped_total 3\n');
    expect(scrape).toContain('authd_log_write_failures_total 0\n');
    output.dropped = 5;
    output.failed = 2;
    const later = await metrics.registry.metrics();
    expect(later).toContain('authd_log_lines_dropped_total 5\n');
    expect(later).toContain('authd_log_write_failures_total 2\n');
  });

  it('goes on, and exits, when the output refuses every write (a full disk)', () => {
    // In a process of its own: left to pino, the refusal is an uncaught error, and the exit that
    // follows retries the write for ever.
    const script = `
      import { spawnSync } from 'node:child_process';
import { openSync } from 'node:fs';
      import { batchedOutput, createLogger, flushLogger } from ${JSON.stringify(`${ROOT}dist/src/observability/logger.js`)};
      const output = batchedOutput({ fd: openSync('/dev/full', 'w') });
      const logger = createLogger('info', output.stream);
      for (let i = 0; i < 100; i += 1) logger.info({ i, padding: 'x'.repeat(100) }, 'request');
      await new Promise((resolve) => setTimeout(resolve, 300));
      logger.info('still serving');
      await flushLogger(logger);
      process.stderr.write(JSON.stringify({ failedWrites: output.failedWrites() }));
      process.exit(0);
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 });
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect((JSON.parse(child.stderr) as { failedWrites: number }).failedWrites).toBeGreaterThan(0);
  });
});
