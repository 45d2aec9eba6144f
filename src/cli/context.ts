import { existsSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from '../config/config.js';
import { redactedStack } from '../observability/logger.js';
import { HasherFailedError } from '../passwords/password-hasher.js';
import { databaseProblem, type DatabaseProblem } from '../stores/database-unavailable.js';

/** Thrown by a command for a problem the user can fix; printed as one line, exit code 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** Reads `.env` (if present) into the environment without overriding what is already set. */
export function loadDotEnv(path = '.env'): void {
  if (existsSync(path)) process.loadEnvFile(path);
}

/**
 * The configuration for a CLI command or the server: `.env`, then the environment, validated once.
 * UV_THREADPOOL_SIZE must come from the environment the process started with: whether libuv had
 * sized its threadpool before `.env` was read depends on the Node version, and an empty value
 * means one thread to libuv but unset to authd. Both are refused rather than guessed.
 */
export function loadRuntimeConfig(dotEnvPath = '.env'): Config {
  const threadpoolSize = process.env['UV_THREADPOOL_SIZE'];
  if (threadpoolSize?.trim() === '') throw new ConfigError('UV_THREADPOOL_SIZE is empty (Node then runs one threadpool thread): unset it or give a number');
  loadDotEnv(dotEnvPath);
  if (threadpoolSize === undefined && process.env['UV_THREADPOOL_SIZE'] !== undefined) {
    throw new ConfigError('UV_THREADPOOL_SIZE is set in .env: set it in the environment authd starts with (or node --env-file), which Node reads before sizing its threadpool');
  }
  return loadConfig(process.env);
}

/** What to do about a database problem, in a line that names no host, user or password. */
const DATABASE_ADVICE: Record<DatabaseProblem, string> = {
  unavailable: 'PostgreSQL could not be reached or could not serve: check DATABASE_URL and that the server is up',
  'no-database': 'the database DATABASE_URL names does not exist: create it (createdb), then run `authd migrate`',
  'not-migrated': 'the database has no authd tables: run `authd migrate`',
  credentials: "PostgreSQL refused the connection: check DATABASE_URL's user and password, and pg_hba.conf's rules",
};

/** Prints a known failure as one line and exits 1; anything else is a bug and keeps its stack. */
export function exitOnError(error: unknown): never {
  const problem = databaseProblem(error);
  if (error instanceof ConfigError) {
    process.stderr.write(`authd: configuration error: ${error.message}\n`);
  } else if (error instanceof CliError) {
    process.stderr.write(`authd: ${error.message}\n`);
  } else if (error instanceof HasherFailedError) {
    process.stderr.write(`authd: ${error.message}: this host could not give argon2 the memory or threads it needs (ARGON2_MEMORY_KIB, ARGON2_PARALLELISM)\n`);
  } else if (problem !== undefined) {
    process.stderr.write(`authd: ${DATABASE_ADVICE[problem.problem]} (${problem.code})\n`);
  } else {
    process.stderr.write(`authd: unexpected error: ${error instanceof Error ? (redactedStack(error) ?? error.name) : typeof error}\n`);
  }
  process.exit(1);
}
