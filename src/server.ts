import { createServer, type Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { corsEnabled, createApp } from './app.js';
import { systemClock, type Clock } from './clock.js';
import { ConfigError, type Config } from './config/config.js';
import { createDataLayer, requireServices } from './data-layer.js';
import { createAccessTokenIssuer } from './flows/access-token-issuer.js';
import { createIntrospection } from './flows/introspection.js';
import { createLoginThrottle } from './flows/login-throttle.js';
import { createRefreshRotation } from './flows/refresh-rotation.js';
import { createRevocation } from './flows/revocation.js';
import { createSessionIssuer } from './flows/session-issuer.js';
import { clientCredentialsGrant } from './grants/client-credentials.js';
import { passwordGrant } from './grants/password.js';
import { refreshTokenGrant } from './grants/refresh-token.js';
import { answerClientErrors } from './http/client-errors.js';
import { createConnectionDrain } from './http/connection-drain.js';
import { answerJwksBeforeKoa } from './http/jwks-before-koa.js';
import { createKeyring, KeyringError } from './keys/keyring.js';
import { batchedOutput } from './observability/log-output.js';
import { createLogger, describeError, type Logger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import { argon2Workers, threadpoolSizeFor } from './passwords/argon2-workers.js';
import { createPasswordHasher } from './passwords/password-hasher.js';
import { repeatAfter } from './repeat-after.js';
import { settlesWithin } from './settles-within.js';
import { cachedClientLookup, cachedScopesInUse } from './stores/cached-client-lookup.js';
import { pingDatabase } from './stores/database.js';
import { pingRedis, redisReady, refusedDatabase } from './stores/redis.js';
import { createAccessTokenVerifier } from './tokens/access-token-verifier.js';

/** How long SIGTERM waits for in-flight requests before closing connections anyway. */
const DRAIN_TIMEOUT_MS = 10_000;
/** While draining, how often connections that have fallen idle are closed. */
const IDLE_SWEEP_MS = 20;
const HOUR_MS = 3_600_000;
/** When the prunes first run after start: at random between these. */
const FIRST_PRUNE_AFTER_MS = { min: 60_000, max: 600_000 };
/** Clients are served from memory this long: a change made with the CLI reaches every instance within it. */
const CLIENT_CACHE = { ttlMs: 10_000, maxEntries: 10_000 };
/** How long start-up waits for Redis before serving without it. */
const REDIS_STARTUP_WAIT_MS = 2000;

export interface RunningServer {
  readonly server: Server;
  readonly logger: Logger;
  reloadKeys(): Promise<void>;
  /** Brings Redis's denylist up to date with Postgres now (also runs on a timer). */
  syncDenylist(): Promise<void>;
  /** Stops accepting, drains in-flight requests, then closes Postgres and Redis. */
  shutdown(): Promise<void>;
}

export interface ServerOptions {
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** How often the denylist is checked against Postgres. */
  readonly denylistSyncMs?: number;
  /** argon2 workers and queue length (default: argon2Workers(cores, UV_THREADPOOL_SIZE), 32 waiting per worker). */
  readonly passwordQueue?: { readonly concurrency: number; readonly maxQueue: number };
  /** How long a client has to send a whole request, in ms above 0 (default REQUEST_TIMEOUT_MS). */
  readonly requestTimeoutMs?: number;
  /** How long a login beyond its pair's or IP's remaining failures waits for a place (default DEFAULT_BUSY_WAIT_MS). */
  readonly loginBusyWaitMs?: number;
}

/**
 * How long a client has to send a whole request, headers and body (at most 16 KiB): a token
 * request takes well under a second. Node's default of 300 s let a client that sends a byte now
 * and then hold a connection, and its memory, for five minutes at almost no cost to itself. A
 * request still unfinished gets 408 and its connection is closed.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

/** Builds every dependency from the configuration and listens. */
export async function startServer(baseConfig: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const config = requireServices(baseConfig);
  const output = options.logger === undefined ? batchedOutput() : undefined;
  const logger = options.logger ?? createLogger(config.logLevel, output?.stream);
  const clock = options.clock ?? systemClock;
  const data = createDataLayer(config, logger, clock);
  const { audit, denylist, refreshTokens } = data;
  const metrics = createMetrics({ denylistCopy: denylist.copyState, logOutput: output });

  // A threadpool smaller than the cores leaves cores idle in a login storm: say so, with the fix.
  const cores = availableParallelism();
  const argon2Jobs = argon2Workers(cores, config.threadpoolSize, config.argon2.parallelism);
  const wanted = threadpoolSizeFor(cores, config.argon2.parallelism);
  if (options.passwordQueue === undefined && config.threadpoolSize < wanted) {
    logger.warn(
      { cores, argon2Workers: argon2Jobs, threadpoolSize: config.threadpoolSize },
      `argon2 has ${argon2Jobs} of the ${wanted - 1} workers the cores allow: start authd with UV_THREADPOOL_SIZE=${wanted}`,
    );
  }
  const passwords = createPasswordHasher({ cost: config.argon2, metrics, concurrency: argon2Jobs, ...options.passwordQueue });

  const keyring = createKeyring({ dir: config.keysDir, clock, logger, rotationInterval: config.keyRotationInterval });
  try {
    await keyring.load();
    await keyring.ensureKey();
    await passwords.prepare();
  } catch (error) {
    await data.close();
    // A KEYS_DIR that cannot be read or written is the operator's to fix, like a bad variable.
    throw error instanceof KeyringError ? new ConfigError(error.message) : error;
  }
  await keyring.start();

  const accessTokens = createAccessTokenIssuer({ issuer: config.issuer, keys: keyring, clock });
  const verifyAccessToken = createAccessTokenVerifier({ issuer: config.issuer, keys: keyring, clock });
  const policy = {
    defaultAccessTokenTtl: config.accessTokenTtl,
    refreshTokenTtl: config.refreshTokenTtl,
    refreshFamilyMaxAge: config.refreshFamilyMaxAge,
    reuseGrace: config.refreshReuseGrace,
  };
  const grants = [
    passwordGrant({
      issuer: config.issuer,
      users: data.users,
      passwords,
      throttle: createLoginThrottle({
        redis: data.redis,
        maxFailures: config.loginMaxFailures,
        lockSeconds: config.loginLockSeconds,
        metrics,
        ...(options.loginBusyWaitMs === undefined ? {} : { busyWaitMs: options.loginBusyWaitMs }),
      }),
      sessions: createSessionIssuer({ policy, accessTokens, refreshTokens, clock }),
      audit,
      metrics,
    }),
    clientCredentialsGrant({ issuer: config.issuer, defaultAccessTokenTtl: config.accessTokenTtl, accessTokens }),
    refreshTokenGrant(createRefreshRotation({ policy, refreshTokens, accessTokens, denylist, clock, audit, metrics })),
  ];

  const app = createApp({
    config,
    logger,
    metrics,
    keys: keyring,
    readiness: [
      { name: 'postgres', check: () => pingDatabase(data.sql) },
      { name: 'redis', check: () => pingRedis(data.redis) },
      { name: 'keys', check: async () => { if (keyring.activeKey() === undefined) throw new Error('no active signing key'); } },
    ],
    scopesSupported: cachedScopesInUse(() => data.clients.scopesInUse(), clock, CLIENT_CACHE.ttlMs),
    clients: cachedClientLookup(data.clients, clock, CLIENT_CACHE),
    grants,
    revoke: createRevocation({ verifyAccessToken, denylist, refreshTokens, clock, audit, metrics }),
    introspect: createIntrospection({ verifyAccessToken, denylist, refreshTokens, clock }),
  });

  const syncDenylist = () => denylist.sync();
  const logFailure = (what: string) => (error: unknown) => logger.warn({ err: describeError(error) }, `${what} failed`);
  const reseedDenylist = () => void denylist.reseed().catch(logFailure('denylist re-seed'));
  data.redis.on('ready', reseedDenylist);
  // Never taken off: a close during the shutdown drain must still end Redis's word.
  data.redis.on('close', denylist.disconnected);
  // Connected while the keyring loaded: the first 'ready' has gone by.
  if (data.redis.status === 'ready') reseedDenylist();
  denylist.follow();
  // The prunes' first runs come a few minutes after start, at random: a fleet whose instances all
  // restart within the hour (rolling deploys, autoscaling) would otherwise never prune, and
  // instances started together do not all scan the tables at once.
  const firstPrune = () => ({ firstAfterMs: FIRST_PRUNE_AFTER_MS.min + Math.random() * (FIRST_PRUNE_AFTER_MS.max - FIRST_PRUNE_AFTER_MS.min) });
  const periodicWork = [
    repeatAfter(options.denylistSyncMs ?? 10_000, () => syncDenylist().catch(logFailure('denylist sync'))),
    repeatAfter(HOUR_MS, (stopping) => denylist.pruneExpired(stopping).catch(logFailure('revocation pruning')), firstPrune()),
    repeatAfter(HOUR_MS, (stopping) => refreshTokens.pruneDeadFamilies(new Date(clock.now()), stopping).catch(logFailure('refresh token pruning')), firstPrune()),
  ];
  /**
   * Ends the keyring's reloads and the periodic work (a prune stops after its running batch): at
   * shutdown, and when start-up fails past this point. Resolves once no periodic run, re-seed or
   * load of the denylist's copy is left.
   */
  const stopBackgroundWork = (): Promise<unknown> => {
    keyring.stop();
    data.redis.off('ready', reseedDenylist);
    denylist.stop();
    return Promise.all([...periodicWork.map((stop) => stop()), denylist.settled()]);
  };
  /** For a start-up that fails past this point: the background work stopped, the connections closed, `error` thrown. */
  const abandonStart = async (error: unknown): Promise<never> => {
    await settlesWithin(stopBackgroundWork(), DRAIN_TIMEOUT_MS);
    await data.close();
    throw error;
  };

  if (!(await redisReady(data.redis, REDIS_STARTUP_WAIT_MS))) {
    logger.warn('starting without Redis: denylist checks fall back to Postgres');
  } else {
    const refused = await refusedDatabase(data.redis);
    if (refused !== undefined) await abandonStart(new ConfigError(refused));
  }
  const listener = answerJwksBeforeKoa(app.callback(), { keys: keyring, logger, metrics, corsEnabled: corsEnabled(config) });
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const drain = createConnectionDrain();
  const server = createServer(
    // Node checks the running requests' times every connectionsCheckingInterval.
    { requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: Math.max(1, Math.floor(Math.min(5_000, requestTimeout / 4))) },
    drain.listener(listener),
  )
    .on('connection', drain.track)
    .on('clientError', answerClientErrors(logger, metrics, drain.latestAnswer))
    .listen(config.port, config.host);
  try {
    await new Promise<void>((resolve, reject) => {
      const refused = (error: NodeJS.ErrnoException) => reject(listenRefusal(error, config));
      server.once('error', refused);
      server.once('listening', () => {
        server.off('error', refused);
        resolve();
      });
    });
  } catch (error) {
    await abandonStart(error);
  }
  // Once listening, an error of the listening socket (an accept that failed: out of file descriptors
  // or memory) is logged, and the server goes on; without a listener it would end the process.
  server.on('error', (error) => logger.error({ err: describeError(error) }, 'http server error'));
  logger.info({ issuer: config.issuer, address: server.address() }, 'authd listening');

  return {
    server,
    logger,
    reloadKeys: () => keyring.reload(),
    syncDenylist,
    shutdown: async () => {
      const backgroundStopped = stopBackgroundWork();
      const drainEnds = Date.now() + DRAIN_TIMEOUT_MS;
      // close() closes the connections idle at that moment only. One kept alive that was answering
      // then would serve its client's next request too (a proxy's pool sends one at once), which
      // the forced close could cut after its work was done: a refresh already rotated, its answer
      // lost, and the retry with the spent token taken for reuse. So the answers still to come say
      // Connection: close, which the client's next request waits for, and each connection is
      // closed as it falls idle (one whose answer had begun, too).
      drain.begin();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const idleSweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), DRAIN_TIMEOUT_MS).unref();
      await closed;
      clearInterval(idleSweep);
      clearTimeout(force);
      // Background work still running (a sync's pages, a re-seed, a prune's batch) gets what is
      // left of the drain time. Past it the connections are closed: what runs on fails, though
      // closing Postgres still waits for a statement in progress (30 s at most, its timeout).
      if (!(await settlesWithin(backgroundStopped, drainEnds - Date.now()))) logger.warn('background work still running at shutdown; closing its connections');
      await data.close();
    },
  };
}

/** Why authd cannot listen, as a configuration error naming the variable to change; other errors as they are. */
function listenRefusal(error: NodeJS.ErrnoException, { host, port }: Pick<Config, 'host' | 'port'>): Error {
  switch (error.code) {
    case 'EADDRINUSE':
      return new ConfigError(`PORT ${port} is already in use on ${host}`);
    case 'EACCES':
      return new ConfigError(`PORT ${port} on ${host} needs privileges this process does not have`);
    case 'EADDRNOTAVAIL':
      return new ConfigError(`HOST ${host} is not an address of this machine`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError(`HOST ${host} does not resolve (${error.code})`);
    default:
      return error;
  }
}
