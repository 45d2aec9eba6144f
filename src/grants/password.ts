import { hasControlCharacters, loggedUsername, type User } from '../domain/user.js';
import { formatScope } from '../domain/scope.js';
import { invalidGrant, temporarilyUnavailable, tooManyRequests } from '../errors/oauth-error.js';
import type { LoginThrottle } from '../flows/login-throttle.js';
import type { SessionIssuer } from '../flows/session-issuer.js';
import { grantedAudience, grantedScopes, requestedAudience } from '../flows/token-policy.js';
import type { Audit } from '../observability/audit.js';
import type { Metrics } from '../observability/metrics.js';
import { HashAbandonedError, HasherBusyError, HasherFailedError, isPossiblePassword, type PasswordHasher } from '../passwords/password-hasher.js';
import { requiredParam } from '../domain/request-params.js';
import type { Grant } from './grant.js';

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
  readonly metrics: Pick<Metrics, 'loginFailures' | 'loginRefused'>;
}

/** Seconds a client is asked to wait when argon2 could not run on this host. */
const HASHER_FAILED_RETRY_AFTER = 5;

/** The one answer for a wrong password, an unknown user and a disabled user. */
const badCredentials = () => invalidGrant('invalid username or password');

/**
 * RFC 6749 §4.3. Unknown and disabled users cost the same argon2 work and get the same answer
 * as a wrong password; failures count per (username, IP) and per IP, and a locked pair or IP is
 * refused before any password work.
 */
export function passwordGrant(deps: PasswordGrantDeps): Grant {
  const { audit } = deps;
  return {
    grantType: 'password',
    async handle(request) {
      const username = requiredParam(request.params, 'username');
      const password = requiredParam(request.params, 'password');
      const { client, ip } = request;
      const scopes = grantedScopes(client, request.params.get('scope'));
      const audience = grantedAudience(client, requestedAudience(request.params), deps.issuer);

      const { user, needsRehash } = await authenticateUser(deps, { username, password, ip, clientId: client.clientId, abandoned: request.abandoned });
      const passwordHash = needsRehash ? await upgradeHash(deps, user, password) : user.passwordHash;
      const start = (checkedAgainst: string) => deps.sessions.start({ user, passwordHash: checkedAgainst, client, scopes, audience });
      let session = await start(passwordHash);
      if (session === undefined) {
        // The stored hash is not the one checked: the user was disabled, or given another password
        // (a session on the old one must not outlive the change, nor the `sessions revoke` that
        // follows it), or another login rehashed the same password. Checked once more against
        // what is stored, only that last one starts its session.
        const now = await deps.users.findByUsername(username);
        const rehashedElsewhere =
          now !== undefined &&
          !now.disabled &&
          now.passwordHash !== passwordHash &&
          (await checkPassword(deps.passwords, now, password, request.abandoned, request.abandoned)).ok;
        if (rehashedElsewhere) session = await start(now.passwordHash);
        if (session === undefined) {
          // The answer is a wrong password's; the right password has already reset the pair.
          loginFailed(deps, { username, ip, clientId: client.clientId }, now === undefined || now.disabled ? 'disabled' : 'bad_password');
          throw badCredentials();
        }
      }
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

/** Counts a login that gets the one answer for bad credentials, and audits it with the reason, which only the audit log holds. */
function loginFailed(
  { metrics, audit }: PasswordGrantDeps,
  { username, ip, clientId }: { username: string; ip: string; clientId: string },
  reason: 'unknown_user' | 'disabled' | 'bad_password',
): void {
  metrics.loginFailures.inc();
  audit('login_failed', { username: loggedUsername(username), ip, client_id: clientId, reason });
}

interface LoginCredentials {
  readonly username: string;
  readonly password: string;
  readonly ip: string;
  readonly clientId: string;
  readonly abandoned: AbortSignal;
}

/**
 * The throttled password check: the attempt starts before any lookup or argon2 work, so a locked
 * pair or IP costs nothing, and concurrent guesses of a pair or an IP are counted as they start.
 */
async function authenticateUser(deps: PasswordGrantDeps, { username, password, ip, clientId, abandoned }: LoginCredentials) {
  const { users, passwords, throttle, audit } = deps;
  // No password longer than any can be is a guess: refused as a wrong one, but neither counted nor
  // held (counted, each such request would store a throttle key without any argon2 work to pace it).
  if (!isPossiblePassword(password)) throw badCredentials();
  const attempt = await throttle.begin(username, ip, abandoned);
  if (attempt.refused) {
    deps.metrics.loginRefused.inc({ reason: attempt.reason });
    if (attempt.reason !== 'busy') audit('login_locked', { username: loggedUsername(username), ip, client_id: clientId, scope: attempt.reason });
    throw tooManyRequests(attempt.retryAfterSeconds);
  }
  try {
    // A username no user can have is an unknown user: the same work and the same answer.
    const user = hasControlCharacters(username) ? undefined : await users.findByUsername(username);
    const verdict = await checkPassword(passwords, user, password, attempt.signal, abandoned);
    if (user === undefined || !verdict.ok || user.disabled) {
      const reason = user === undefined ? 'unknown_user' : user.disabled ? 'disabled' : 'bad_password';
      loginFailed(deps, { username, ip, clientId }, reason);
      const { pairLockedNow, ipLockedNow } = await attempt.failed();
      if (pairLockedNow) audit('login_locked', { username: loggedUsername(username), ip, client_id: clientId, scope: 'pair' });
      if (ipLockedNow) audit('login_locked', { username: loggedUsername(username), ip, client_id: clientId, scope: 'ip' });
      throw badCredentials();
    }
    await attempt.succeeded();
    return { user, needsRehash: verdict.needsRehash };
  } finally {
    // Ended without a verdict (the hasher was busy, the client left, a store failed): not a failure.
    await attempt.release();
  }
}

/**
 * Verifies against the user's hash, or a dummy hash of the same cost when there is no usable user;
 * no work starts once `stop` has fired (the client left, or the attempt's place is running out).
 */
async function checkPassword(passwords: PasswordHasher, user: User | undefined, password: string, stop: AbortSignal, abandoned: AbortSignal) {
  try {
    if (user === undefined || user.disabled) {
      await passwords.verifyDummy(password, stop);
      return { ok: false, needsRehash: false };
    }
    return await passwords.verify(user.passwordHash, password, stop);
  } catch (error) {
    if (error instanceof HasherBusyError) throw temporarilyUnavailable(error.retryAfterSeconds);
    // The host could not run argon2 (out of memory or threads): no verdict, counted for no one.
    if (error instanceof HasherFailedError) throw temporarilyUnavailable(HASHER_FAILED_RETRY_AFTER, 'password check failed', error);
    // No verdict: nothing is counted for or against the pair.
    if (error instanceof HashAbandonedError) throw temporarilyUnavailable(1, abandoned.aborted ? 'client disconnected' : 'the login waited too long');
    throw error;
  }
}

/**
 * Re-hashes with the current cost after a good login; skipped (until the next login) when the
 * hasher is busy or argon2 cannot run. Returns the hash the user's password is stored as, as far
 * as this login knows: the new one, or, when the rehash was skipped or the stored hash had changed
 * meanwhile, the one the password was checked against.
 */
async function upgradeHash({ passwords, users }: PasswordGrantDeps, user: User, password: string): Promise<string> {
  try {
    const rehashed = await passwords.hash(password);
    return (await users.updatePasswordHash(user.id, rehashed, { ifCurrent: user.passwordHash })) ? rehashed : user.passwordHash;
  } catch (error) {
    // The login has succeeded: a re-hash that cannot run now is tried at the next one.
    if (!(error instanceof HasherBusyError) && !(error instanceof HasherFailedError)) throw error;
    return user.passwordHash;
  }
}
