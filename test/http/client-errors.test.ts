import { connect } from 'node:net';
import { startTestServer, type TestServer } from '../support/server.js';

const REQUEST_TIMEOUT_MS = 600;
const AUTHORIZATION = 'Basic c2VjcmV0LWNsaWVudDpzM2NyM3QtdmFsdWU=';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ requestTimeoutMs: REQUEST_TIMEOUT_MS });
});
afterAll(() => server.stop());

/** Sends `bytes` on a raw connection; resolves with what came back once the server closed it. */
function exchange(bytes: string | Buffer): Promise<string> {
  const { port } = new URL(server.baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      if (bytes.length > 0) socket.write(bytes);
    });
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
    // A server that never closes fails the test instead of hanging it.
    setTimeout(() => socket.destroy(new Error('the server kept the connection open')), 20 * REQUEST_TIMEOUT_MS).unref();
  });
}

let logMark = 0;
const newLines = () => server.logs.lines.slice(logMark);
const unparsedLines = () => newLines().filter((line) => line['route'] === 'unparsed').map(({ level, msg, method, status, reason }) => ({ level, msg, method, status, reason }));
const unparsedCount = async (status: number) => {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  const found = new RegExp(`^authd_http_requests_total\\{method="unknown",route="unparsed",status="${status}"\\} (\\d+)$`, 'm').exec(text);
  return found === null ? 0 : Number(found[1]);
};

beforeEach(() => {
  logMark = server.logs.lines.length;
});

describe('requests node answers itself, before authd sees them', () => {
  it('answers headers past 16 KiB with 431 and closes, with one request line and a count', async () => {
    const answer = await exchange(`GET /healthz HTTP/1.1\r\nHost: authd\r\nAuthorization: ${AUTHORIZATION}\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(answer).toBe('HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n');
    expect(unparsedLines()).toEqual([{ level: 'info', msg: 'request', method: 'unknown', status: 431, reason: 'HPE_HEADER_OVERFLOW' }]);
    expect(await unparsedCount(431)).toBe(1);
  });

  it('answers a malformed request with 400, logging its parser code and none of its bytes', async () => {
    const answer = await exchange(`POST /token HTTP/1.1\r\nHost: authd\r\nAuthorization: ${AUTHORIZATION}\r\nBad\u0001Header: x\r\n\r\n`);
    expect(answer).toBe('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    expect(unparsedLines()).toEqual([{ level: 'info', msg: 'request', method: 'unknown', status: 400, reason: 'HPE_INVALID_HEADER_TOKEN' }]);
    expect(await unparsedCount(400)).toBe(1);
    expect(server.logs.raw()).not.toContain('c2VjcmV0');
    expect(server.logs.raw()).not.toContain('Bad');
  });

  it('answers headers that stop arriving with 408 once the request timeout passes', async () => {
    const answer = await exchange('POST /token HTTP/1.1\r\nHost: authd\r\nContent-Ty');
    expect(answer).toBe('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    expect(unparsedLines()).toEqual([{ level: 'info', msg: 'request', method: 'unknown', status: 408, reason: 'ERR_HTTP_REQUEST_TIMEOUT' }]);
    expect(await unparsedCount(408)).toBe(1);
  });

  it('logs a body that stops arriving as the request authd was running, not as unparsed', async () => {
    const head = 'POST /token HTTP/1.1\r\nHost: authd\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n';
    const answer = await exchange(`${head}grant_type=`);
    expect(answer).toBe('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    expect(unparsedLines()).toEqual([]);
    expect(newLines().filter((line) => line['msg'] === 'request').map((line) => [line['method'], line['route']])).toEqual([['POST', '/token']]);
  });

  it('closes a connection that sent nothing with 408 and no line: it made no request', async () => {
    const answer = await exchange('');
    expect(answer).toBe('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    expect(newLines().filter((line) => line['msg'] === 'request')).toEqual([]);
  });

  it('answers a malformed request after a finished answer on the same connection, with its line', async () => {
    const { port } = new URL(server.baseUrl);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: authd\r\n\r\n'));
      let received = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        received += chunk;
        if (received.endsWith('\r\n\r\n{"status":"ok"}')) socket.write('NOT-HTTP\r\n\r\n');
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(received));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\{"status":"ok"\}HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\n\r\n$/);
    expect(newLines().filter((line) => line['msg'] === 'request').map((line) => [line['route'], line['status']])).toEqual([
      ['/healthz', 200],
      ['unparsed', 400],
    ]);
  });

  it('writes nothing into an answer node has begun to send, as node does: pipelined behind a key set being sent', async () => {
    const answer = await exchange('GET /.well-known/jwks.json HTTP/1.1\r\nHost: authd\r\n\r\nGET /healthz HTTP/1.1\r\nHost: authd\r\n\r\nNOT-HTTP\r\n\r\n');
    expect(answer.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200']);
    expect(answer).toContain('"keys"');
    expect(unparsedLines()).toEqual([]);
  });

  it('logs a body that stops arriving after its request was answered (refused before it was read) once, as that request', async () => {
    const head = 'POST /token HTTP/1.1\r\nHost: authd\r\nOrigin: https://evil.example.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n';
    const answer = await exchange(`${head}grant_type=`);
    expect(answer.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 400', 'HTTP/1.1 408']);
    expect(newLines().filter((line) => line['msg'] === 'request').map((line) => [line['route'], line['status']])).toEqual([['/token', 400]]);
  });
});
