import { connect } from 'node:net';
import { REQUEST_TIMEOUT_MS as DEFAULT_REQUEST_TIMEOUT_MS } from '../../src/server.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Not a multiple of 4: the check interval Node is given must still be a whole number. */
const REQUEST_TIMEOUT_MS = 1001;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ requestTimeoutMs: REQUEST_TIMEOUT_MS });
});
afterAll(() => server.stop());

/** Sends `start` on a raw connection and never the rest; resolves with what came back and when the server closed it. */
function sendPart(start: string): Promise<{ answer: string; closedAfterMs: number }> {
  const { port } = new URL(server.baseUrl);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(start));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve({ answer, closedAfterMs: Date.now() - started }));
    // A server that never closes fails the test instead of hanging it.
    setTimeout(() => socket.destroy(new Error('the server kept the connection open')), 20 * REQUEST_TIMEOUT_MS).unref();
  });
}

describe('a client that does not finish its request', () => {
  it('gets 408 and a closed connection once the request timeout passes, mid-body', async () => {
    const head = 'POST /token HTTP/1.1\r\nHost: authd\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n';
    const { answer, closedAfterMs } = await sendPart(`${head}grant_type=`);
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    expect(closedAfterMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS);
    expect(closedAfterMs).toBeLessThan(10 * REQUEST_TIMEOUT_MS);
  });

  it('gets 408 and a closed connection once the request timeout passes, mid-headers', async () => {
    const { answer, closedAfterMs } = await sendPart('POST /token HTTP/1.1\r\nHost: authd\r\nContent-Ty');
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    expect(closedAfterMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS);
    expect(closedAfterMs).toBeLessThan(10 * REQUEST_TIMEOUT_MS);
  });

  it('has 30 s by default', async () => {
    const byDefault = await startTestServer();
    try {
      expect(DEFAULT_REQUEST_TIMEOUT_MS).toBe(30_000);
      expect([byDefault.running.server.requestTimeout, byDefault.running.server.headersTimeout]).toEqual([30_000, 30_000]);
    } finally {
      await byDefault.stop();
    }
  });

  it('leaves requests that finish in time alone, and logs no unexpected error', async () => {
    const answer = await fetch(`${server.baseUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect([answer.status, await answer.json()]).toEqual([401, { error: 'invalid_client', error_description: 'client authentication required' }]);
    expect(server.logs.lines.filter((line) => line['level'] === 50)).toEqual([]);
  });
});
