/** A person who logs in with a password. `id` is the token's `sub`. */
export interface User {
  readonly id: string;
  readonly username: string;
  readonly passwordHash: string;
  readonly roles: readonly string[];
  readonly disabled: boolean;
}

/** Usernames are unique and compared case-insensitively: this is the form stored and compared. */
export const normalizeUsername = (username: string): string => username.normalize('NFKC').toLowerCase();

/** C0 controls and DEL: no username has them, in any normal form (and Postgres refuses NUL outright). */
// eslint-disable-next-line no-control-regex
export const hasControlCharacters = (text: string): boolean => /[\u0000-\u001f\u007f]/.test(text);

const MAX_USERNAME_LENGTH = 128;

/** 1–128 characters, no control characters, no leading or trailing space. */
export const isValidUsername = (username: string): boolean =>
  username.length >= 1 && username.length <= MAX_USERNAME_LENGTH && username.trim() === username && !hasControlCharacters(username);

/**
 * A username as a log line carries it: as typed, cut after the longest a username can be. A login
 * may send 16 KiB of anything as its username, and a locked pair's refusals cost no argon2 work,
 * so an uncut one would let anyone write log lines of ~100 KB (control characters escaped) as fast
 * as they can send requests.
 */
export function loggedUsername(username: string): string {
  if (username.length <= MAX_USERNAME_LENGTH) return username;
  const cut = username.slice(0, MAX_USERNAME_LENGTH);
  // Not half of a character written as two UTF-16 units (an emoji, say).
  return `${/[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut}…`;
}
