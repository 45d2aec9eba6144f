import type { RequestListener } from 'node:http';
import { describeError, type Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { recordRequest } from './middleware/observe.js';
import { requestIdFor } from './middleware/request-id.js';
import { answerJwks, JWKS_PATH, type JwksAnswer, type JwksSource } from './routes/jwks.js';

export interface JwksBeforeKoaOptions {
  readonly keys: JwksSource;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** CORS is on: every response varies by Origin, as @koa/cors marks koa's. */
  readonly corsEnabled: boolean;
}

/**
 * Answers a plain GET or HEAD of the key set from node's request event, ahead of koa, and hands
 * every other request to `koa`. Resource servers fetch the key set more than anything else, and
 * koa's context, router and middleware cost more than the answer itself (BENCHMARKS.md). The
 * answer is the koa route's own (`answerJwks`), with the same request id, log line and metrics;
 * a request with a query or an Origin goes to koa, which alone answers CORS.
 */
export function answerJwksBeforeKoa(koa: RequestListener, { keys, logger, metrics, corsEnabled }: JwksBeforeKoaOptions): RequestListener {
  // Each answer's headers as node's flat list, made once per answer (answers change with the key set).
  const headerLists = new WeakMap<JwksAnswer, readonly string[]>();
  const headerListOf = (answer: JwksAnswer): readonly string[] => {
    let list = headerLists.get(answer);
    if (list === undefined) {
      list = [
        ...(corsEnabled ? ['Vary', 'Origin'] : []),
        ...Object.entries(answer.headers).flat(),
        ...(answer.body === undefined ? [] : ['Content-Length', String(Buffer.byteLength(answer.body))]),
      ];
      headerLists.set(answer, list);
    }
    return list;
  };
  return (request, response) => {
    const { method, url, headers } = request;
    if (url !== JWKS_PATH || (method !== 'GET' && method !== 'HEAD') || headers.origin !== undefined) {
      koa(request, response);
      return;
    }
    const startedAt = process.hrtime.bigint();
    const requestId = requestIdFor(headers['x-request-id']);
    try {
      const answer = answerJwks(keys, headers['if-none-match'] ?? '');
      response.writeHead(answer.status, ['X-Request-Id', requestId, ...headerListOf(answer)]);
      response.end(method === 'HEAD' ? undefined : answer.body);
      recordRequest(logger, metrics, { requestId, method, route: JWKS_PATH, status: answer.status, startedAt });
    } catch (error) {
      // Not answered yet: koa's route meets the same failure and answers it as it answers every
      // failure (a 500 and a log line). Thrown from here, it would end the process.
      if (!response.headersSent) koa(request, response);
      else logger.error({ reqId: requestId, err: describeError(error) }, 'unexpected error');
    }
  };
}
