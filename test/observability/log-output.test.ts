import { jest } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchedOutput } from '../../src/observability/log-output.js';
import { createLogger, flushLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { ROOT } from '../support/cli.js';
import { fillPipe, nonBlockingFifo } from '../support/pipes.js';
import { waitUntil } from '../support/wait.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'authd-log-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lineNumbers = async (file: string) =>
  (await readFile(file, 'utf8')).trim().split('\n').filter((line) => line !== '').map((line) => (JSON.parse(line) as { i: number }).i);

/**
 * Runs `body` in a Node process of its own, with `output` (a batchedOutput on `fd`) and `logger`
 * defined; an exit that never ends is killed after 15 s. Imports the build (npm test builds first).
 */
const runLogging = (fd: string, body: string) => {
  const script = `
    import { openSync } from 'node:fs';
    import { batchedOutput } from ${JSON.stringify(`${ROOT}dist/src/observability/log-output.js`)};
    import { createLogger, flushLogger } from ${JSON.stringify(`${ROOT}dist/src/observability/logger.js`)};
    const output = batchedOutput({ fd: ${fd} });
    const logger = createLogger('info', output.stream);
    ${body}
  `;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 });
};

describe('the batched log output', () => {
  it('drops and counts the lines past its buffer while the output has not taken the earlier ones, and flushes all it kept', async () => {
    const file = join(dir, 'out.log');
    const fd = openSync(file, 'w');
    const output = batchedOutput({ fd, maxBufferedBytes: 8192 });
    try {
      const logger = createLogger('info', output.stream);
      // ~40 KB in one turn of the event loop: the first write cannot have finished before the last line.
      for (let i = 0; i < 200; i += 1) logger.info({ i, padding: 'x'.repeat(150) }, 'request');
      await flushLogger(logger);

      const kept = await lineNumbers(file);
      expect(output.droppedLines()).toBeGreaterThan(100);
      expect(kept.length + output.droppedLines()).toBe(200);
      expect(kept).toEqual([...kept.keys()]);
      logger.info({ i: 200 }, 'after the flush');
      await flushLogger(logger);
      expect(await lineNumbers(file)).toEqual([...kept, 200]);
      expect(output.failedWrites()).toBe(0);
    } finally {
      closeSync(fd);
    }
  });

  it('writes a batch smaller than a write at a flush, without waiting for the batch to fill or its timer', async () => {
    const file = join(dir, 'out.log');
    const fd = openSync(file, 'w');
    // The batch's 100 ms timer never fires: only the flush can start the write.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const logger = createLogger('info', batchedOutput({ fd }).stream);
      logger.info({ i: 0 }, 'request');
      logger.info({ i: 1 }, 'request');
      await new Promise((resolve) => setImmediate(resolve));
      expect(await readFile(file, 'utf8')).toBe('');
      await flushLogger(logger);
      expect(await lineNumbers(file)).toEqual([0, 1]);
    } finally {
      jest.useRealTimers();
      closeSync(fd);
    }
  });

  it('writes a batch smaller than a write by itself, once its 100 ms have passed', async () => {
    const file = join(dir, 'out.log');
    const fd = openSync(file, 'w');
    try {
      const logger = createLogger('info', batchedOutput({ fd }).stream);
      logger.info({ i: 0 }, 'request');
      logger.info({ i: 1 }, 'request');
      await waitUntil(async () => (await readFile(file, 'utf8')) !== '', 5000, 20);
      expect(await lineNumbers(file)).toEqual([0, 1]);
    } finally {
      closeSync(fd);
    }
  });

  it('writes every line when a fatal line flushes synchronously during a write, and the lines after it too', async () => {
    const file = join(dir, 'out.log');
    const fd = openSync(file, 'w');
    try {
      const output = batchedOutput({ fd });
      const logger = createLogger('info', output.stream);
      // ~5 KB: past 4 KiB the first write starts, and is still running at the fatal line.
      for (let i = 0; i < 30; i += 1) logger.info({ i, padding: 'x'.repeat(150) }, 'request');
      logger.fatal({ i: 30 }, 'fatal');
      logger.info({ i: 31 }, 'after the fatal line');
      await flushLogger(logger);
      // The synchronous write may land before the running one: every line, in any order.
      expect((await lineNumbers(file)).sort((a, b) => a - b)).toEqual([...Array(32).keys()]);
      expect(output.failedWrites()).toBe(0);
    } finally {
      closeSync(fd);
    }
  });

  describe('on a non-blocking pipe', () => {
    let writer: number;
    let reader: number;
    let fifo: string;
    beforeEach(() => {
      ({ path: fifo, writer } = nonBlockingFifo(dir));
      reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    });
    afterEach(() => {
      closeSync(reader);
      closeSync(writer);
    });

    /** Reads the pipe until `count` lines have come (or 10 s), and returns their numbers. */
    const readLines = async (count: number) => {
      let text = '';
      const buffer = Buffer.alloc(65536);
      const deadline = Date.now() + 10_000;
      while (text.split('\n').length <= count && Date.now() < deadline) {
        try {
          text += buffer.toString('utf8', 0, readSync(reader, buffer));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      return text.trim().split('\n').map((line) => (JSON.parse(line) as { i: number }).i);
    };

    it('waits while the pipe is full, and writes every line in order, once, as it drains; a flush waits too', async () => {
      const output = batchedOutput({ fd: writer });
      const logger = createLogger('info', output.stream);
      // ~400 KB, six times what a pipe holds: writes meet EAGAIN and are taken in part.
      for (let i = 0; i < 2000; i += 1) logger.info({ i, padding: 'x'.repeat(150) }, 'request');
      let flushed = false;
      const flush = flushLogger(logger).then(() => {
        flushed = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(flushed).toBe(false);

      expect(await readLines(2000)).toEqual([...Array(2000).keys()]);
      await flush;
      // A full pipe is a reader behind, not a refusal.
      expect({ failed: output.failedWrites(), dropped: output.droppedLines() }).toEqual({ failed: 0, dropped: 0 });
    });

    it('keeps in order the lines of a write that meets a full pipe while a fatal line flushes synchronously', async () => {
      fillPipe(writer);
      const output = batchedOutput({ fd: writer });
      const logger = createLogger('info', output.stream);
      // ~5 KB: past 4 KiB a write starts; the fatal line's synchronous flush gives up on the full pipe after 1 s.
      for (let i = 0; i < 30; i += 1) logger.info({ i, padding: 'x'.repeat(150) }, 'request');
      logger.fatal({ i: 30 }, 'fatal');
      logger.info({ i: 31 }, 'after the fatal line');
      const flush = flushLogger(logger);

      const numbers = (await readLines(32 + 16)).filter((i) => i >= 0);
      expect(numbers).toEqual([...Array(32).keys()]);
      await flush;
      expect(output.failedWrites()).toBe(0);
    });

    it('calls back a flush waiting on a full pipe once a fatal line has written the lines synchronously', async () => {
      const drained = join(dir, 'drained.log');
      fillPipe(writer);
      // A reader that starts while the fatal line's synchronous flush waits on the full pipe.
      const cat = spawn('sh', ['-c', `sleep 0.3; exec cat ${fifo} > ${drained}`]);
      try {
        const output = batchedOutput({ fd: writer });
        const logger = createLogger('info', output.stream);
        logger.info({ i: 0 }, 'shutting down');
        let flushed = false;
        const flush = flushLogger(logger).then(() => {
          flushed = true;
        });
        await new Promise((resolve) => setTimeout(resolve, 5));
        logger.fatal({ i: 1 }, 'fatal');
        await Promise.race([flush, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
        expect(flushed).toBe(true);
        await waitUntil(async () => (await readFile(drained, 'utf8')).includes('"i":1,'), 5000, 20);
        // Line 1 may have gone out first: when the fatal line came, line 0's write may not yet have met the full pipe.
        expect((await lineNumbers(drained)).filter((i) => i >= 0).sort((a, b) => a - b)).toEqual([0, 1]);
      } finally {
        cat.kill();
      }
    });
  });

  it('writes the lines still buffered when the process exits at once', async () => {
    const file = join(dir, 'out.log');
    // ~2.5 KB, under the 4 KiB at which a write starts: all of it is still buffered at the exit.
    const child = runLogging(`openSync(${JSON.stringify(file)}, 'w')`, `
      for (let i = 0; i < 30; i += 1) logger.info({ i }, 'request');
      process.exit(3);
    `);
    expect({ signal: child.signal, status: child.status }).toEqual({ signal: null, status: 3 });
    expect(await lineNumbers(file)).toEqual([...Array(30).keys()]);
  });

  it('writes at exit the lines of a logger nobody holds any more', async () => {
    const file = join(dir, 'out.log');
    const script = `
      import { openSync } from 'node:fs';
      import { batchedOutput } from ${JSON.stringify(`${ROOT}dist/src/observability/log-output.js`)};
      import { createLogger } from ${JSON.stringify(`${ROOT}dist/src/observability/logger.js`)};
      const fd = openSync(${JSON.stringify(file)}, 'w');
      (() => createLogger('info', batchedOutput({ fd }).stream).info({ i: 0 }, 'audit'))();
      await new Promise((resolve) => setImmediate(resolve));
      globalThis.gc();
    `;
    const child = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 });
    expect({ status: child.status, stderr: child.stderr }).toEqual({ status: 0, stderr: '' });
    expect(await lineNumbers(file)).toEqual([0]);
  });

  describe('when the output refuses every write (a full disk)', () => {
    it('counts the refusals, goes on taking lines, and exits', () => {
      const child = runLogging(`openSync('/dev/full', 'w')`, `
        for (let i = 0; i < 100; i += 1) logger.info({ i, padding: 'x'.repeat(100) }, 'request');
        await new Promise((resolve) => setTimeout(resolve, 300));
        logger.info('still serving');
        await flushLogger(logger);
        process.stderr.write(JSON.stringify({ failedWrites: output.failedWrites() }));
        process.exit(0);
      `);
      expect({ signal: child.signal, status: child.status }).toEqual({ signal: null, status: 0 });
      expect((JSON.parse(child.stderr) as { failedWrites: number }).failedWrites).toBeGreaterThan(0);
    });

    it('counts the refusal of the synchronous flush after a fatal line', () => {
      const child = runLogging(`openSync('/dev/full', 'w')`, `
        logger.fatal('fatal');
        process.stderr.write(JSON.stringify({ failedWrites: output.failedWrites() }));
        process.exit(0);
      `);
      expect({ signal: child.signal, status: child.status }).toEqual({ signal: null, status: 0 });
      expect(JSON.parse(child.stderr)).toEqual({ failedWrites: 1 });
    });

    it('exits when it logs and exits before any write was tried (a failed start-up)', () => {
      const child = runLogging(`openSync('/dev/full', 'w')`, `
        logger.error('start-up failed');
        process.exit(1);
      `);
      expect({ signal: child.signal, status: child.status }).toEqual({ signal: null, status: 1 });
    });
  });

  /** Runs `body` with a batched output on a pipe whose reader has gone; returns the exit status and what it reported on stderr. */
  const onBrokenPipe = async (body: string) => {
    const script = `
      import { batchedOutput } from ${JSON.stringify(`${ROOT}dist/src/observability/log-output.js`)};
      import { createLogger, flushLogger } from ${JSON.stringify(`${ROOT}dist/src/observability/logger.js`)};
      const output = batchedOutput({ fd: 1 });
      const logger = createLogger('info', output.stream);
      const flushError = () => new Promise((resolve) => logger.flush((error) => resolve(error?.code)));
      await new Promise((resolve) => process.stdin.once('data', resolve)); // the reader has gone
      ${body}
      process.stderr.write(JSON.stringify({ flushed: await flushError(), failedWrites: output.failedWrites(), droppedLines: output.droppedLines() }));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.stdout.destroy();
    child.stdin.end('go');
    const status = await new Promise((resolve) => child.once('exit', resolve));
    return { status, report: JSON.parse(stderr) as unknown };
  };

  it('drops and counts every line once its pipe breaks (the reader gone for good), instead of holding and retrying them', async () => {
    expect(
      await onBrokenPipe(`
        for (let i = 0; i < 100; i += 1) logger.info({ i, padding: 'x'.repeat(100) }, 'request');
        await flushError();
        await new Promise((resolve) => setTimeout(resolve, 500));
        logger.info('still serving');
      `),
    ).toEqual({ status: 0, report: { flushed: 'EPIPE', failedWrites: 1, droppedLines: 101 } });
  });

  it('counts a broken pipe met by the synchronous flush after a fatal line once, and drops what follows', async () => {
    expect(
      await onBrokenPipe(`
        logger.info('before');
        logger.fatal('fatal');
        await new Promise((resolve) => setTimeout(resolve, 300));
        for (let i = 0; i < 10; i += 1) logger.info({ i }, 'request');
      `),
    ).toEqual({ status: 0, report: { flushed: 'EPIPE', failedWrites: 1, droppedLines: 12 } });
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
});
