import { hash, randomBytes } from 'node:crypto';

const PREFIX = 'rt_';
const SHAPE = /^rt_[A-Za-z0-9_-]{43}$/;

/** `rt_` + 43 base64url characters: 256 random bits. */
export const newRefreshToken = (): string => PREFIX + randomBytes(32).toString('base64url');

/** Whether a string could be one of our refresh tokens (cheap filter before any lookup). */
export const looksLikeRefreshToken = (token: string): boolean => SHAPE.test(token);

/** The only form in which a refresh token is stored or looked up: SHA-256 of the whole string, hex. */
export const hashRefreshToken = (token: string): string => hash('sha256', token);
