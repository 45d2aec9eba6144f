import { jest } from '@jest/globals';
import { describeError } from '../../src/observability/logger.js';
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
});
