import { createLoginThrottle, type LoginThrottle } from '../../src/flows/login-throttle.js';
import type { SessionIssuer } from '../../src/flows/session-issuer.js';
import type { Client } from '../../src/domain/client.js';
import type { User } from '../../src/domain/user.js';
import { OAuthError } from '../../src/errors/oauth-error.js';
import { passwordGrant, type PasswordUsers } from '../../src/grants/password.js';
import { requestParams } from '../../src/domain/request-params.js';
import type { Audit } from '../../src/observability/audit.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createPasswordHasher, HasherBusyError, HasherFailedError, type PasswordHasher } from '../../src/passwords/password-hasher.js';
import { refusesHugeAllocations, withUnallocatableMemory } from '../support/memory.js';
import { leaseAuthdRedis, type AuthdTestRedis } from '../support/redis.js';

const MAX_FAILURES = 3;
const LOW = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

let redis: AuthdTestRedis;
beforeAll(async () => {
  redis = await leaseAuthdRedis();
});
afterAll(() => redis.release());

/** A throttle on this file's Redis db; each test names its own key prefix. */
const throttleUnder = (keyPrefix: string): LoginThrottle =>
  createLoginThrottle({ redis: redis.authd, maxFailures: MAX_FAILURES, lockSeconds: 60, keyPrefix, busyWaitMs: 0 });

const webClient: Client = {
  clientId: 'web',
  name: 'web',
  secretHash: 'a'.repeat(64),
  grantTypes: ['password'],
  scopes: [],
  audiences: ['https://api.example'],
  accessTokenTtl: null,
  createdAt: new Date(0),
};

const sessions: SessionIssuer = {
  start: async () => ({ accessToken: { token: 'at', jti: 'j', expiresIn: 300, expiresAt: new Date(0) }, refreshToken: 'rt', familyId: 'f' }),
};

const passwords = createPasswordHasher({ cost: LOW });

/** A users store whose lookups fail, as when Postgres goes away between client authentication and the login. */
const unreachableUsers: PasswordUsers = {
  findByUsername: () => Promise.reject(new Error('connection terminated')),
  updatePasswordHash: () => Promise.reject(new Error('connection terminated')),
};

const grantWith = (
  users: PasswordUsers,
  throttle: LoginThrottle,
  hasher: PasswordHasher = passwords,
  metrics = createMetrics({ defaultMetrics: false }),
  issuer: SessionIssuer = sessions,
  audit: Audit = () => undefined,
) => passwordGrant({ issuer: 'https://authd.example', users, passwords: hasher, throttle, sessions: issuer, audit, metrics });

const request = (username: string, ip: string, password = 'pw') => ({
  params: requestParams(new Map([['grant_type', 'password'], ['username', username], ['password', password]])),
  client: webClient,
  ip,
  requestId: 'r',
  abandoned: new AbortController().signal,
});

/** How many attempts of the pair can start now (each is held, then released). */
async function attemptsLeft(throttle: LoginThrottle, username: string, ip: string): Promise<number> {
  const held = [];
  for (let i = 0; i < MAX_FAILURES + 1; i += 1) held.push(await throttle.begin(username, ip));
  for (const attempt of held) if (!attempt.refused) await attempt.release();
  return held.filter((attempt) => !attempt.refused).length;
}

describe('password grant and the login throttle', () => {
  it('answers 503 without checking the password when the attempt\'s hold runs out before the password work starts', async () => {
    const throttle = createLoginThrottle({ redis: redis.authd, maxFailures: MAX_FAILURES, lockSeconds: 60, keyPrefix: 'hold-ends', busyWaitMs: 0, holdMs: 600 });
    const metrics = createMetrics({ defaultMetrics: false });
    const hasher = createPasswordHasher({ cost: LOW, metrics });
    const slowUsers: PasswordUsers = {
      ...unreachableUsers,
      findByUsername: async () => {
        await new Promise((resolve) => setTimeout(resolve, 550));
        return undefined;
      },
    };
    const answer = await grantWith(slowUsers, throttle, hasher).handle(request('alice', '203.0.113.9')).catch((error: unknown) => error);
    expect(answer).toBeInstanceOf(OAuthError);
    expect(answer).toMatchObject({ status: 503, code: 'temporarily_unavailable', description: 'the login waited too long' });
    // The (dummy) check was dropped before it ran.
    expect((await metrics.argon2Abandoned.get()).values[0]?.value).toBe(1);
    // No verdict: the pair is charged nothing.
    expect(await attemptsLeft(throttle, 'alice', '203.0.113.9')).toBe(MAX_FAILURES);
  });

  it('gives the attempt back when the lookup fails, so a store outage costs the pair no tries', async () => {
    const throttle = throttleUnder('lookup-fails');
    const grant = grantWith(unreachableUsers, throttle);
    for (let i = 0; i < MAX_FAILURES + 1; i += 1) {
      await expect(grant.handle(request('alice', '203.0.113.1'))).rejects.toThrow('connection terminated');
    }
    expect(await attemptsLeft(throttle, 'alice', '203.0.113.1')).toBe(MAX_FAILURES);
  });

  (refusesHugeAllocations ? it : it.skip)('counts no failure, and audits none, when argon2 cannot run: the right password must not lock its user out', async () => {
    const throttle = throttleUnder('argon2-fails');
    // argon2's allocation really fails, as on a host out of memory.
    const passwordHash = withUnallocatableMemory(await passwords.hash('pw'));
    const user: User = { id: 'u-oom', username: 'erin', passwordHash, roles: [], disabled: false };
    const users: PasswordUsers = { findByUsername: async () => user, updatePasswordHash: async () => false };
    const audited: string[] = [];
    const grant = grantWith(users, throttle, passwords, createMetrics({ defaultMetrics: false }), sessions, (event) => audited.push(event));
    for (let i = 0; i < MAX_FAILURES + 1; i += 1) {
      const refused = grant.handle(request('erin', '203.0.113.5'));
      await expect(refused).rejects.toMatchObject({ code: 'temporarily_unavailable', status: 503, options: { retryAfter: 5 } });
      await expect(refused).rejects.toHaveProperty('cause', expect.any(HasherFailedError));
    }
    expect(audited).toEqual([]);
    expect(await attemptsLeft(throttle, 'erin', '203.0.113.5')).toBe(MAX_FAILURES);
  });

  it('answers a locked pair 429 even when the lookup fails', async () => {
    const throttle = throttleUnder('locked');
    for (let i = 0; i < MAX_FAILURES; i += 1) {
      const attempt = await throttle.begin('bob', '203.0.113.2');
      if (attempt.refused) throw new Error('refused too early');
      await attempt.failed();
    }
    const answer = grantWith(unreachableUsers, throttle).handle(request('bob', '203.0.113.2'));
    await expect(answer).rejects.toBeInstanceOf(OAuthError);
    await expect(answer).rejects.toMatchObject({ code: 'too_many_requests', status: 429 });
  });

  it('counts each refusal by its reason: busy while the pair\'s places are taken, pair once it is locked', async () => {
    const throttle = throttleUnder('refusals');
    const metrics = createMetrics({ defaultMetrics: false });
    const grant = grantWith(unreachableUsers, throttle, passwords, metrics);
    const running = await Promise.all(Array.from({ length: MAX_FAILURES }, () => throttle.begin('dave', '203.0.113.4')));
    await expect(grant.handle(request('dave', '203.0.113.4'))).rejects.toMatchObject({ code: 'too_many_requests', status: 429 });
    for (const attempt of running) if (!attempt.refused) await attempt.failed();
    await expect(grant.handle(request('dave', '203.0.113.4'))).rejects.toMatchObject({ code: 'too_many_requests', status: 429 });
    const refusals = (await metrics.loginRefused.get()).values.map(({ labels, value }) => [labels['reason'], value]);
    expect(Object.fromEntries(refusals)).toEqual({ busy: 1, pair: 1 });
  });

  it('resets the pair on a good login', async () => {
    const throttle = throttleUnder('reset');
    const user: User = { id: 'u1', username: 'carol', passwordHash: await passwords.hash('pw'), roles: [], disabled: false };
    const users: PasswordUsers = { findByUsername: async () => user, updatePasswordHash: async () => true };
    for (let i = 0; i < MAX_FAILURES - 1; i += 1) {
      const attempt = await throttle.begin('carol', '203.0.113.3');
      if (attempt.refused) throw new Error('refused too early');
      await attempt.failed();
    }
    expect(await attemptsLeft(throttle, 'carol', '203.0.113.3')).toBe(1);
    await expect(grantWith(users, throttle).handle(request('carol', '203.0.113.3'))).resolves.toMatchObject({ refresh_token: 'rt' });
    expect(await attemptsLeft(throttle, 'carol', '203.0.113.3')).toBe(MAX_FAILURES);
  });

  it.each([
    ['disabled', (user: User): User => ({ ...user, disabled: true }), 'disabled'],
    ['given another password', (user: User): User => ({ ...user, passwordHash: 'another hash' }), 'bad_password'],
  ])("answers as for a wrong password when the user is %s between the check and the session's start", async (_, meanwhile, reason) => {
    const user: User = { id: 'u4', username: 'frank', passwordHash: await passwords.hash('pw'), roles: [], disabled: false };
    let lookups = 0;
    const users: PasswordUsers = { findByUsername: async () => (lookups++ === 0 ? user : meanwhile(user)), updatePasswordHash: async () => true };
    const metrics = createMetrics({ defaultMetrics: false });
    const checkedAgainst: string[] = [];
    // The store's answer when the user row no longer matches (refresh-token-store.test.ts checks the store itself).
    const changedMeanwhile: SessionIssuer = {
      start: async ({ passwordHash }) => {
        checkedAgainst.push(passwordHash);
        return undefined;
      },
    };
    const audited: [string, Record<string, unknown>][] = [];
    const audit: Audit = (event, fields) => audited.push([event, fields]);
    await expect(grantWith(users, throttleUnder(`changed-meanwhile-${reason}`), passwords, metrics, changedMeanwhile, audit).handle(request('frank', '203.0.113.4'))).rejects.toMatchObject({
      code: 'invalid_grant',
      description: 'invalid username or password',
    });
    expect(checkedAgainst).toEqual([user.passwordHash]);
    expect((await metrics.loginFailures.get()).values.map(({ labels, value }) => [labels, value])).toEqual([[{}, 1]]);
    expect(audited).toEqual([['login_failed', { username: 'frank', ip: '203.0.113.4', client_id: 'web', reason }]]);
  });
});

describe('password grant and a rehash', () => {
  /** A user whose hash was made at an older cost than `passwords`', so that a good login rehashes it. */
  const olderUser = async (id: string): Promise<User> => ({
    id,
    username: id,
    passwordHash: await createPasswordHasher({ cost: { ...LOW, timeCost: 2 } }).hash('pw'),
    roles: [],
    disabled: false,
  });
  /** A session issuer that starts a session only against the stored hash, as the store's insert does; it notes each start's hash. */
  const storeLike = (stored: () => string, checkedAgainst: string[]): SessionIssuer => ({
    start: async (input) => {
      checkedAgainst.push(input.passwordHash);
      return input.passwordHash === stored() ? sessions.start(input) : undefined;
    },
  });

  it('starts the session against its own rehash', async () => {
    const user = await olderUser('gina');
    let stored = user.passwordHash;
    const users: PasswordUsers = {
      findByUsername: async () => ({ ...user, passwordHash: stored }),
      updatePasswordHash: async (_, hash, { ifCurrent }) => (stored === ifCurrent ? ((stored = hash), true) : false),
    };
    const checkedAgainst: string[] = [];
    await grantWith(users, throttleUnder('rehash-own'), passwords, undefined, storeLike(() => stored, checkedAgainst)).handle(request('gina', '203.0.113.5'));
    expect(checkedAgainst).toEqual([stored]);
    expect(stored).not.toBe(user.passwordHash);
  });

  it.each([
    ['another login of the user rehashed the same password first', 'pw', 'lost', true],
    ['another login of the user rehashed the same password while the hasher was too busy for this one', 'pw', 'busy', true],
    ['the password was changed meanwhile', 'a new password', 'lost', false],
  ])('when %s, starts a session only if the password matches what is stored', async (_, storedPassword, rehash, starts) => {
    const user = await olderUser('hank');
    const storedMeanwhile = await passwords.hash(storedPassword);
    let lookups = 0;
    const users: PasswordUsers = {
      // The lookup before the check reads the old hash; every later one, what was stored meanwhile.
      findByUsername: async () => (lookups++ === 0 ? user : { ...user, passwordHash: storedMeanwhile }),
      updatePasswordHash: async () => false,
    };
    const busyForRehash: PasswordHasher = { ...passwords, hash: () => Promise.reject(new HasherBusyError()) };
    const checkedAgainst: string[] = [];
    const grant = grantWith(users, throttleUnder(`rehash-${rehash}-${storedPassword}`), rehash === 'busy' ? busyForRehash : passwords, undefined, storeLike(() => storedMeanwhile, checkedAgainst));
    const answer = grant.handle(request('hank', '203.0.113.6'));
    if (starts) {
      await expect(answer).resolves.toMatchObject({ refresh_token: 'rt' });
      expect(checkedAgainst).toEqual([user.passwordHash, storedMeanwhile]);
    } else {
      await expect(answer).rejects.toMatchObject({ code: 'invalid_grant' });
      expect(checkedAgainst).toEqual([user.passwordHash]);
    }
  });
});

describe('password grant and argon2', () => {
  it('does one argon2 verification for a wrong password, an unknown user, a disabled user and a username no user can have', async () => {
    const hasher = createPasswordHasher({ cost: LOW });
    const calls: string[] = [];
    const counted: PasswordHasher = {
      ...hasher,
      verify: (hash, password, abandoned) => {
        calls.push('verify');
        return hasher.verify(hash, password, abandoned);
      },
      verifyDummy: (password, abandoned) => {
        calls.push('dummy');
        return hasher.verifyDummy(password, abandoned);
      },
    };
    const hash = await hasher.hash('right');
    const accounts: Record<string, User> = {
      dave: { id: 'u2', username: 'dave', passwordHash: hash, roles: [], disabled: false },
      erin: { id: 'u3', username: 'erin', passwordHash: hash, roles: [], disabled: true },
    };
    const users: PasswordUsers = { findByUsername: async (name) => accounts[name], updatePasswordHash: async () => true };
    const grant = grantWith(users, throttleUnder('argon2-work'), counted);
    const answers: Record<string, string[]> = {};
    for (const [username, password] of [['dave', 'wrong'], ['nobody', 'right'], ['erin', 'right'], ['nul\u0000name', 'right']] as const) {
      calls.length = 0;
      await expect(grant.handle(request(username, '203.0.113.9', password))).rejects.toMatchObject({ code: 'invalid_grant', description: 'invalid username or password' });
      answers[username] = [...calls];
    }
    expect(answers).toEqual({ dave: ['verify'], nobody: ['dummy'], erin: ['dummy'], 'nul\u0000name': ['dummy'] });
  });
});
