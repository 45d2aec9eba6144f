import { createServer, type Server } from 'node:http';
import Koa from 'koa';
import { handleErrors } from '../../src/http/middleware/errors.js';
import { captureLogs } from '../support/logs.js';

/** A failure no one planned for, whose message quotes a hash (base64, with a '/'): it must reach neither the client nor the log. */
const DIGEST = 'q7Jz+/8YpGh0a1Bv3kE9mWfXrT2uLcN4sDo6iVyAe5M';
const LEAKY = `query failed near '${DIGEST}'`;

let server: Server;
let baseUrl: string;
const logs = captureLogs();

beforeAll(async () => {
  const app = new Koa();
  app.silent = true;
  app.use(handleErrors(logs.logger));
  app.use(() => {
    throw new Error(LEAKY);
  });
  server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

it('answers an unexpected error with a generic 500 in RFC 6749 JSON, no-store, and one log line without the secret', async () => {
  const response = await fetch(`${baseUrl}/token`, { method: 'POST' });
  expect(response.status).toBe(500);
  expect(await response.json()).toEqual({ error: 'server_error', error_description: 'unexpected error' });
  expect([response.headers.get('cache-control'), response.headers.get('pragma')]).toEqual(['no-store', 'no-cache']);
  const errors = logs.lines.filter((line) => line['msg'] === 'unexpected error');
  expect(errors).toHaveLength(1);
  expect(logs.raw()).not.toContain(DIGEST);
});
