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

/** 1–128 characters, no control characters, no leading or trailing space. */
export const isValidUsername = (username: string): boolean =>
  username.length >= 1 && username.length <= 128 && username.trim() === username && !hasControlCharacters(username);
