import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerJwksBeforeKoa } from '../../src/http/jwks-before-koa.js';
import type { JwksSource } from '../../src/http/routes/jwks.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { responseSnapshot } from '../support/http.js';
import { captureLogs } from '../support/logs.js';

const BODY = '{"keys":[{"kid":"k1"}]}';
const ETAG = '"etag-1"';

interface Harness {
  readonly url: string;
  readonly koaSaw: string[];
  readonly logs: ReturnType<typeof captureLogs>;
  readonly metrics: Metrics;
  close(): Promise<void>;
}

const PUBLISHED = { jwks: () => ({ body: BODY, etag: ETAG }) };

/** The listener on a real socket, with a stand-in for koa that records what reached it. */
async function listen(corsEnabled: boolean, keys: JwksSource = PUBLISHED): Promise<Harness> {
  const koaSaw: string[] = [];
  const koa: RequestListener = (request, response) => {
    koaSaw.push(`${request.method} ${request.url}`);
    response.writeHead(299).end('koa');
  };
  const logs = captureLogs();
  const metrics = createMetrics({ defaultMetrics: false });
  const server: Server = createServer(answerJwksBeforeKoa(koa, { keys, logger: logs.logger, metrics, corsEnabled }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    koaSaw,
    logs,
    metrics,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('the key set answered ahead of koa', () => {
  let harness: Harness;
  beforeEach(async () => {
    harness = await listen(false);
  });
  afterEach(() => harness.close());

  it('answers a GET itself, with the caching headers, the request id, a log line and metrics', async () => {
    const response = await fetch(`${harness.url}/.well-known/jwks.json`, { headers: { 'X-Request-Id': 'probe-1' } });
    expect(await responseSnapshot(response)).toEqual({
      status: 200,
      headers: {
        'x-request-id': 'probe-1',
        'cache-control': 'public, max-age=300',
        etag: ETAG,
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(BODY.length),
      },
      body: BODY,
    });
    expect(harness.koaSaw).toEqual([]);
    const lines = harness.logs.lines.filter((line) => line['reqId'] === 'probe-1');
    expect(lines).toEqual([expect.objectContaining({ level: 'info', msg: 'request', method: 'GET', route: '/.well-known/jwks.json', status: 200 })]);
    expect(typeof lines[0]!['ms']).toBe('number');
    const counted = await harness.metrics.httpRequests.get();
    expect(counted.values).toEqual([{ labels: { method: 'GET', route: '/.well-known/jwks.json', status: '200' }, value: 1 }]);
  });

  it('answers 304 with no body or type to a matching If-None-Match, weak or in a list', async () => {
    for (const ifNoneMatch of [ETAG, `W/${ETAG}`, `"other", ${ETAG}`, '*']) {
      const response = await fetch(`${harness.url}/.well-known/jwks.json`, { headers: { 'If-None-Match': ifNoneMatch } });
      expect([response.status, await response.text()]).toEqual([304, '']);
      expect(response.headers.get('etag')).toBe(ETAG);
      expect(response.headers.get('content-type')).toBeNull();
    }
    const stale = await fetch(`${harness.url}/.well-known/jwks.json`, { headers: { 'If-None-Match': '"stale"' } });
    expect([stale.status, await stale.text()]).toEqual([200, BODY]);
    expect(harness.koaSaw).toEqual([]);
  });

  it('answers a HEAD with the headers of a GET and no body', async () => {
    const response = await fetch(`${harness.url}/.well-known/jwks.json`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(BODY.length));
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.text()).toBe('');
  });

  it('makes a request id of its own for a missing or unsafe one', async () => {
    const response = await fetch(`${harness.url}/.well-known/jwks.json`, { headers: { 'X-Request-Id': 'a b' } });
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('hands koa every other request: other paths and methods, a query, an Origin', async () => {
    await fetch(`${harness.url}/.well-known/jwks.json?x=1`);
    await fetch(`${harness.url}/.well-known/jwks.json`, { method: 'POST', body: 'x' });
    await fetch(`${harness.url}/.well-known/jwks.json`, { headers: { Origin: 'https://app.example.test' } });
    await fetch(`${harness.url}/.well-known/jwks.json/`);
    await fetch(`${harness.url}/token`);
    expect(harness.koaSaw).toEqual([
      'GET /.well-known/jwks.json?x=1',
      'POST /.well-known/jwks.json',
      'GET /.well-known/jwks.json',
      'GET /.well-known/jwks.json/',
      'GET /token',
    ]);
    expect(harness.logs.lines).toEqual([]);
  });
});

it('marks its answers as varying by Origin when CORS is on', async () => {
  const harness = await listen(true);
  try {
    const response = await fetch(`${harness.url}/.well-known/jwks.json`);
    expect([response.status, response.headers.get('vary')]).toEqual([200, 'Origin']);
  } finally {
    await harness.close();
  }
});

it('hands koa a request it failed to answer, so the failure is answered as every other one is', async () => {
  const harness = await listen(false, {
    jwks: () => {
      throw new Error('keyring broke');
    },
  });
  try {
    const response = await fetch(`${harness.url}/.well-known/jwks.json`);
    expect([response.status, await response.text()]).toEqual([299, 'koa']);
    expect(harness.koaSaw).toEqual(['GET /.well-known/jwks.json']);
  } finally {
    await harness.close();
  }
});

it('logs a failure after the answer has left, and keeps serving', async () => {
  const harness = await listen(false);
  try {
    harness.metrics.httpRequests.inc = () => {
      throw new Error('metrics broke');
    };
    const first = await fetch(`${harness.url}/.well-known/jwks.json`, { headers: { 'X-Request-Id': 'probe-2' } });
    expect([first.status, await first.text()]).toEqual([200, BODY]);
    expect(harness.logs.lines).toEqual([
      expect.objectContaining({ level: 'error', msg: 'unexpected error', reqId: 'probe-2', err: expect.objectContaining({ message: 'metrics broke' }) }),
    ]);
    const second = await fetch(`${harness.url}/.well-known/jwks.json`);
    expect(second.status).toBe(200);
  } finally {
    await harness.close();
  }
});

it('answers with the key set of the moment: a change of key set replaces the answers made for the last one', async () => {
  const sets = [
    { body: BODY, etag: ETAG },
    { body: '{"keys":[{"kid":"k1"},{"kid":"k2"}]}', etag: '"etag-2"' },
  ];
  let current = sets[0]!;
  const harness = await listen(false, { jwks: () => current });
  const get = async (ifNoneMatch?: string) => {
    const response = await fetch(`${harness.url}/.well-known/jwks.json`, { headers: ifNoneMatch === undefined ? {} : { 'If-None-Match': ifNoneMatch } });
    return [response.status, response.headers.get('etag'), response.headers.get('content-length'), await response.text()];
  };
  try {
    expect(await get()).toEqual([200, ETAG, String(BODY.length), BODY]);
    expect(await get(ETAG)).toEqual([304, ETAG, null, '']);
    current = sets[1]!;
    expect(await get()).toEqual([200, '"etag-2"', String(sets[1]!.body.length), sets[1]!.body]);
    expect(await get(ETAG)).toEqual([200, '"etag-2"', String(sets[1]!.body.length), sets[1]!.body]);
    expect(await get('"etag-2"')).toEqual([304, '"etag-2"', null, '']);
  } finally {
    await harness.close();
  }
});
