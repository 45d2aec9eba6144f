import { randomUUID } from 'node:crypto';
import { epochSeconds, type Clock } from '../clock.js';
import type { Client } from '../domain/client.js';
import type { RefreshTokenRecord } from '../domain/refresh-token.js';
import type { RevokedAccessToken } from '../domain/revocation.js';
import { invalidGrant, invalidScope, invalidTarget } from '../errors/oauth-error.js';
import type { Audit } from '../observability/audit.js';
import type { Metrics } from '../observability/metrics.js';
import type { FamilyRevocation, LockedFamily, RefreshTokenStore, RotatedRefreshToken } from '../stores/refresh-token-store.js';
import { newJti } from '../tokens/access-token.js';
import { hashRefreshToken, looksLikeRefreshToken, newRefreshToken } from '../tokens/refresh-token.js';
import type { AccessTokenIssuer, IssuedAccessToken } from './access-token-issuer.js';
import type { Denylist } from './denylist.js';
import { completeRevocation } from './family-revocation.js';
import { accessTokenTtl, grantedScopes } from './token-policy.js';

export interface RotationPolicy {
  readonly defaultAccessTokenTtl: number;
  readonly refreshTokenTtl: number;
  /** Seconds after a rotation in which the family's most recently spent token may be exchanged again. */
  readonly reuseGrace: number;
}

export interface RefreshRotationDeps {
  readonly policy: RotationPolicy;
  readonly refreshTokens: RefreshTokenStore;
  readonly accessTokens: AccessTokenIssuer;
  readonly denylist: Pick<Denylist, 'publish'>;
  readonly clock: Clock;
  readonly audit: Audit;
  readonly metrics: Pick<Metrics, 'refreshReuseDetected'>;
}

/** What a refresh request asks for beside the token: narrower scopes, and the audience it expects. */
export interface RefreshRequest {
  readonly scope: string | undefined;
  /** RFC 8707: a session has one audience; asking for another is `invalid_target`. */
  readonly audience: string | undefined;
}

export interface Rotation {
  readonly accessToken: IssuedAccessToken;
  readonly refreshToken: string;
  readonly scopes: readonly string[];
}

/** What the locked slow path decided; errors are thrown only after its transaction commits. */
type Outcome =
  | { kind: 'rotated'; successor: RotatedRefreshToken['successor']; roles: readonly string[]; denied: RevokedAccessToken[] }
  | { kind: 'reused'; token: RefreshTokenRecord; revocation: FamilyRevocation }
  /**
   * `revokedFamily`: a family revoked before, whose spent tokens' revocation is taken up again (one
   * cut short goes on). `told`: an audit line, written once the transaction has committed.
   */
  | { kind: 'refused'; error: Error; revokedFamily?: string; told?: Parameters<Audit> };

const invalidToken = () => invalidGrant('refresh token is invalid, expired or revoked');

const NOTHING_REVOKED: FamilyRevocation = { revokedTokens: 0, denied: [] };

/**
 * Exchanges a refresh token for a new access token and a new refresh token of the same family.
 * The common case is one conditional statement in Postgres (exactly one concurrent caller wins);
 * everything else is decided with the token's row locked: reuse of a spent token revokes the
 * family and denylists its access tokens, except the grace exchange of the most recently spent one.
 */
export function createRefreshRotation(deps: RefreshRotationDeps) {
  const { policy, refreshTokens, accessTokens, clock } = deps;

  return async function rotate(client: Client, presented: string, asked: RefreshRequest): Promise<Rotation> {
    if (!looksLikeRefreshToken(presented)) throw invalidToken();
    // Scopes asked for must still be the client's (refused before the token is spent); with none
    // asked for, the token's scopes the client has since lost are left out below.
    const requested = asked.scope === undefined ? undefined : grantedScopes(client, asked.scope);
    accessTokens.assertCanSign();

    const now = new Date(clock.now());
    const issuedAt = epochSeconds(clock);
    const ttlSeconds = accessTokenTtl(client, policy.defaultAccessTokenTtl);
    const preassigned = { jti: newJti(), issuedAt };
    const accessTokenExpiresAt = new Date((issuedAt + ttlSeconds) * 1000);
    const successorToken = newRefreshToken();
    const successorFields = {
      id: randomUUID(),
      tokenHash: hashRefreshToken(successorToken),
      createdAt: now,
      accessTokenJti: preassigned.jti,
      accessTokenExpiresAt,
    };
    const idleExpiry = new Date(now.getTime() + policy.refreshTokenTtl * 1000);
    const tokenHash = hashRefreshToken(presented);

    let outcome: Outcome;
    const fast = await refreshTokens.rotateLive({
      tokenHash,
      clientId: client.clientId,
      now,
      requestedScope: requested ?? [],
      requestedAudience: asked.audience,
      successorId: successorFields.id,
      successorHash: successorFields.tokenHash,
      successorIdleExpiry: idleExpiry,
      accessTokenJti: preassigned.jti,
      accessTokenExpiresAt,
    });
    if (fast.kind === 'rotated') {
      outcome = { kind: 'rotated', successor: fast.successor, roles: fast.userRoles, denied: [] };
    } else if (fast.kind === 'unknown') {
      // Refused without the slow path's transaction: made-up tokens must not hold pool connections.
      outcome = { kind: 'refused', error: invalidToken() };
    } else {
      outcome = await refreshTokens.withLockedToken(tokenHash, now, (family) =>
        decide(family, { client, requested, audience: asked.audience, now, idleExpiry, successorFields, reuseGrace: policy.reuseGrace }),
      );
    }

    if (outcome.kind === 'refused') {
      const { revokedFamily, told } = outcome;
      if (told !== undefined) deps.audit(...told);
      if (revokedFamily !== undefined) await completeRevocation(deps, { familyId: revokedFamily }, NOTHING_REVOKED, now, 'refresh_reuse', () => undefined);
      throw outcome.error;
    }
    if (outcome.kind === 'reused') {
      const { token } = outcome;
      // Counted as soon as the family is ended; the audit line, with what was denylisted, once its spent tokens are too.
      deps.metrics.refreshReuseDetected.inc();
      await completeRevocation(deps, { familyId: token.familyId }, outcome.revocation, now, 'refresh_reuse', (denylisted) => {
        deps.audit('refresh_reuse_detected', { family_id: token.familyId, sub: token.userId, client_id: client.clientId, access_tokens_denylisted: denylisted });
      });
      throw invalidToken();
    }
    await deps.denylist.publish(outcome.denied);
    const { successor, roles } = outcome;
    const scopes = requested ?? successor.scope.filter((scope) => client.scopes.includes(scope));
    const accessToken = await accessTokens.issue({
      subject: successor.userId,
      clientId: client.clientId,
      audience: successor.audience,
      scopes,
      roles,
      ttlSeconds,
      preassigned,
    });
    return { accessToken, refreshToken: successorToken, scopes };
  };
}

interface Decision {
  readonly client: Client;
  readonly requested: readonly string[] | undefined;
  readonly audience: string | undefined;
  readonly now: Date;
  readonly idleExpiry: Date;
  readonly successorFields: Pick<RefreshTokenRecord, 'id' | 'tokenHash' | 'createdAt' | 'accessTokenJti' | 'accessTokenExpiresAt'>;
  readonly reuseGrace: number;
}

/** The slow path, run with the presented token's row locked. */
async function decide(family: LockedFamily | undefined, d: Decision): Promise<Outcome> {
  const refuse = (error: Error, told?: Parameters<Audit>): Outcome => ({ kind: 'refused', error, ...(told === undefined ? {} : { told }) });
  if (family === undefined) return refuse(invalidToken());
  const { token } = family;
  if (token.clientId !== d.client.clientId) {
    // Left alone (SPEC), but told: a client holding another's token is a misconfiguration or a thief.
    const fields = { token_type: 'refresh_token', family_id: token.familyId, client_id: d.client.clientId, owner_client_id: token.clientId };
    return refuse(invalidToken(), ['token_of_another_client', fields]);
  }
  if (token.revokedAt !== null) {
    // Revoked before it was spent, in a family that lives on: a grace exchange replaced it, so two
    // parties held its predecessor (two tabs, or a thief who exchanged a stolen token inside the
    // window, whose session would otherwise go on unseen). SPEC keeps the family and refuses this
    // token (RFC 9700 §4.14.2 would end the family); the audit line tells the operator.
    if (token.usedAt === null && (await family.hasLiveToken())) {
      return refuse(invalidToken(), ['refresh_superseded_presented', { family_id: token.familyId, sub: token.userId, client_id: d.client.clientId }]);
    }
    return refuse(invalidToken());
  }

  let supersededSuccessor: RefreshTokenRecord | undefined;
  if (token.usedAt !== null) {
    const successor = token.replacedById === null ? undefined : await family.lockToken(token.replacedById);
    const withinGrace =
      d.reuseGrace > 0 &&
      d.now.getTime() - token.usedAt.getTime() <= d.reuseGrace * 1000 &&
      successor !== undefined &&
      successor.usedAt === null &&
      successor.revokedAt === null;
    if (!withinGrace) {
      const revocation = await family.revokeFamily('refresh_reuse');
      // No live token to revoke: the family was revoked before, and its old tokens are refused as revoked
      // ones are, without another reuse alert (a revocation leaves its long-spent tokens unmarked).
      if (revocation.revokedTokens === 0) return { kind: 'refused', error: invalidToken(), revokedFamily: token.familyId };
      return { kind: 'reused', token, revocation };
    }
    supersededSuccessor = successor;
  }

  if (token.expiresAt <= d.now || token.familyExpiresAt <= d.now) return refuse(invalidToken());
  const user = await family.isUserEnabled(token.userId);
  if (!user.enabled) return refuse(invalidToken());
  if (d.requested !== undefined && !d.requested.every((scope) => token.scope.includes(scope))) {
    return refuse(invalidScope('scope exceeds the refresh token'));
  }
  if (d.audience !== undefined && d.audience !== token.audience) return refuse(invalidTarget('audience is not that of the refresh token'));
  const denied = supersededSuccessor === undefined ? [] : await family.revokeToken(supersededSuccessor, 'revoked');
  const successor = await family.replaceSuccessor({
    ...d.successorFields,
    familyId: token.familyId,
    userId: token.userId,
    clientId: token.clientId,
    scope: token.scope,
    audience: token.audience,
    expiresAt: new Date(Math.min(d.idleExpiry.getTime(), token.familyExpiresAt.getTime())),
    familyExpiresAt: token.familyExpiresAt,
  });
  return { kind: 'rotated', successor, roles: user.roles, denied };
}
