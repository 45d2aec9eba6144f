import { hasControlCharacters, type User } from '../domain/user.js';
import { formatScope } from '../domain/scope.js';
import { invalidGrant, temporarilyUnavailable, tooManyRequests } from '../errors/oauth-error.js';
import type { LoginThrottle } from '../flows/login-throttle.js';
import type { SessionIssuer } from '../flows/session-issuer.js';
import { grantedAudience, grantedScopes } from '../flows/token-policy.js';
import type { Audit } from '../observability/audit.js';
import type { Metrics } from '../observability/metrics.js';
import { HashAbandonedError, HasherBusyError, type PasswordHasher } from '../passwords/password-hasher.js';
import { requiredParam, type Grant } from './grant.js';

export interface PasswordUsers {
  findByUsername(username: string): Promise<User | undefined>;
  updatePasswordHash(id: string, hash: string, options: { ifCurrent: string }): Promise<boolean>;
}

export interface PasswordGrantDeps {
  readonly issuer: string;
  readonly users: PasswordUsers;
  readonly passwords: PasswordHasher;
  readonly throttle: LoginThrottle;
  readonly sessions: SessionIssuer;
  readonly audit: Audit;
  readonly metrics: Pick<Metrics, 'loginFailures'>;
}

/** The one answer for a wrong password, an unknown user and a disabled user. */
const badCredentials = () => invalidGrant('invalid username or password');

/**
 * RFC 6749 §4.3. Unknown and disabled users cost the same argon2 work and get the same answer
 * as a wrong password; failures count per (username, IP) and per IP, and a locked pair is
 * refused before any password work.
 */
export function passwordGrant(deps: PasswordGrantDeps): Grant {
  const { audit } = deps;
  return {
    grantType: 'password',
    async handle(request) {
      const username = requiredParam(request, 'username');
      const password = requiredParam(request, 'password');
      const { client, ip } = request;
      const scopes = grantedScopes(client, request.params['scope']);
      const audience = grantedAudience(client, request.params['audience'], deps.issuer);

      const { user, needsRehash, pairReset } = await authenticateUser(deps, { username, password, ip, clientId: client.clientId, abandoned: request.abandoned });
      const startSession = async () => {
        if (needsRehash) await upgradeHash(deps, user, password);
        return deps.sessions.start({ user, client, scopes, audience });
      };
      // The pair's count is reset while the session starts: one round trip fewer to wait for, and
      // one wake-up fewer of the main thread between argon2's hashes.
      const [session] = await Promise.all([startSession(), pairReset]);
      audit('login_succeeded', { sub: user.id, ip, client_id: client.clientId, family_id: session.familyId });
      return {
        access_token: session.accessToken.token,
        token_type: 'Bearer',
        expires_in: session.accessToken.expiresIn,
        refresh_token: session.refreshToken,
        ...(scopes.length > 0 ? { scope: formatScope(scopes) } : {}),
      };
    },
  };
}

interface LoginCredentials {
  readonly username: string;
  readonly password: string;
  readonly ip: string;
  readonly clientId: string;
  readonly abandoned: AbortSignal;
}

/**
 * The throttled password check: the attempt starts before any argon2 work, so a locked pair or IP
 * costs one indexed lookup and no hash, and concurrent guesses of a pair are counted as they start.
 * The user is looked up while the attempt starts: the login waits for Redis and Postgres at once.
 */
async function authenticateUser(deps: PasswordGrantDeps, { username, password, ip, clientId, abandoned }: LoginCredentials) {
  const { users, passwords, throttle, audit } = deps;
  // A username no user can have is an unknown user: the same work and the same answer.
  const lookup = async () => (hasControlCharacters(username) ? undefined : users.findByUsername(username));
  // Settled, not all: an attempt that started must be ended even when the lookup failed.
  const [begun, found] = await Promise.allSettled([throttle.begin(username, ip), lookup()]);
  if (begun.status === 'rejected') throw begun.reason;
  const attempt = begun.value;
  if (attempt.refused) {
    if (attempt.reason !== 'busy') audit('login_locked', { username, ip, client_id: clientId, scope: attempt.reason });
    throw tooManyRequests(attempt.retryAfterSeconds);
  }
  try {
    if (found.status === 'rejected') throw found.reason;
    const user = found.value;
    const verdict = await checkPassword(passwords, user, password, abandoned);
    if (user === undefined || !verdict.ok || user.disabled) {
      const reason = user === undefined ? 'unknown_user' : user.disabled ? 'disabled' : 'bad_password';
      deps.metrics.loginFailures.inc({ reason });
      audit('login_failed', { username, ip, client_id: clientId, reason });
      const { lockedNow } = await attempt.failed();
      if (lockedNow) audit('login_locked', { username, ip, client_id: clientId, scope: 'pair' });
      throw badCredentials();
    }
    // Not awaited here: the caller waits for it together with the session's start.
    return { user, needsRehash: verdict.needsRehash, pairReset: attempt.succeeded() };
  } finally {
    // Ended without a verdict (the hasher was busy, the client left, a store failed): not a failure.
    await attempt.release();
  }
}

/** Verifies against the user's hash, or a dummy hash of the same cost when there is no usable user. */
async function checkPassword(passwords: PasswordHasher, user: User | undefined, password: string, abandoned: AbortSignal) {
  try {
    if (user === undefined || user.disabled) {
      await passwords.verifyDummy(password, abandoned);
      return { ok: false, needsRehash: false };
    }
    return await passwords.verify(user.passwordHash, password, abandoned);
  } catch (error) {
    if (error instanceof HasherBusyError) throw temporarilyUnavailable(error.retryAfterSeconds);
    // Nobody reads this answer; nothing is counted for or against the pair.
    if (error instanceof HashAbandonedError) throw temporarilyUnavailable(1, 'client disconnected');
    throw error;
  }
}

/** Re-hashes with the current cost after a good login; skipped (until the next login) when the hasher is busy. */
async function upgradeHash({ passwords, users }: PasswordGrantDeps, user: User, password: string): Promise<void> {
  try {
    await users.updatePasswordHash(user.id, await passwords.hash(password), { ifCurrent: user.passwordHash });
  } catch (error) {
    if (!(error instanceof HasherBusyError)) throw error;
  }
}
