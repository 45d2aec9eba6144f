import type { Logger } from './logger.js';

export type AuditEvent =
  | 'login_succeeded'
  | 'login_failed'
  | 'login_locked'
  | 'refresh_reuse_detected'
  | 'refresh_superseded_presented'
  | 'token_revoked'
  | 'token_of_another_client'
  | 'family_revoked'
  | 'sessions_revoked'
  | 'client_secret_replaced';

/** Writes one audit line: `{"audit":true,"event":…}` plus the fields (never a secret or token). */
export type Audit = (event: AuditEvent, fields: Record<string, unknown>) => void;

export const createAudit =
  (logger: Logger): Audit =>
  (event, fields) =>
    logger.info({ audit: true, event, ...fields }, event);
