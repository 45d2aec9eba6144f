import { jest } from '@jest/globals';
import { describeError, redactedStack } from '../../src/observability/logger.js';
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

  it('stamps each line with its own millisecond, as an ISO date', () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 11, 2, 18, 0, 0, 5) });
    try {
      const logs = captureLogs();
      logs.logger.info('first');
      logs.logger.info('same millisecond');
      jest.setSystemTime(Date.UTC(2026, 11, 2, 18, 0, 0, 6));
      logs.logger.info('next millisecond');
      expect(logs.lines.map((line) => line['time'])).toEqual(['2026-12-02T18:00:00.005Z', '2026-12-02T18:00:00.005Z', '2026-12-02T18:00:00.006Z']);
    } finally {
      jest.useRealTimers();
    }
  });

  it('describes unexpected errors without token-like strings', () => {
    const error = Object.assign(new Error('duplicate key token_hash=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'), { code: 'P2002' });
    const described = describeError(error);
    expect(described).toMatchObject({ type: 'Error', code: 'P2002', message: 'duplicate key [redacted]' });
    expect(JSON.stringify(described)).not.toContain('9f86d081884c7d659a2feaa0c55ad015');
  });

  it('redacts a hash quoted in the message from the stack too, where its base64 holds a slash, and keeps the frames\' paths', () => {
    const digest = 'q7Jz+/8YpGh0a1Bv3kE9mWfXrT2uLcN4sDo6iVyAe5M';
    const error = new Error(`value "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$${digest}" too long`);
    const described = describeError(error);
    expect(JSON.stringify(described)).not.toContain(digest);
    expect(described['stack']).toMatch(/^Error: value "\$argon2id\$v=19\$m=19456,t=2,p=1\$c2FsdHNhbHQ\$\[redacted\]" too long\n\s+at /);
    expect(described['stack']).toContain('logger.test.ts');
    expect(redactedStack(error)).toBe(described['stack']);
  });

  it('finds the frames after a message of several lines, one of them starting like a frame', () => {
    const digest = 'q7Jz+/8YpGh0a1Bv3kE9mWfXrT2uLcN4sDo6iVyAe5M';
    const error = new Error(`failed\n\n    at row 3: ${digest}`);
    expect(redactedStack(error)).toMatch(/^Error: failed\n\n {4}at row 3: \[redacted\]\n\s+at .*logger\.test\.ts/);
  });
});
