import type { Command } from 'commander';
import { migrateDatabase } from '../../db/migrate-url.js';
import { CliError, loadRuntimeConfig } from '../context.js';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations to DATABASE_URL')
    .action(async () => {
      const config = loadRuntimeConfig();
      if (config.databaseUrl === undefined) throw new CliError('DATABASE_URL is not set; nothing to migrate');
      const applied = await migrateDatabase(config.databaseUrl);
      process.stdout.write(applied.length === 0 ? 'database is up to date\n' : applied.map((name) => `applied ${name}\n`).join(''));
    });
}
