// Child script: prints argon2id verifications per second at the given cost, through authd's hasher.
import { availableParallelism } from 'node:os';
import { loadConfig } from '../src/config/config.js';
import { argon2Workers } from '../src/passwords/argon2-workers.js';
import { createPasswordHasher, type Argon2Cost } from '../src/passwords/password-hasher.js';
import { roundRate } from './rates.js';

const [costJson, msText] = process.argv.slice(2) as [string, string];
const cost = JSON.parse(costJson) as Argon2Cost;
const { threadpoolSize } = loadConfig(process.env);
// As many jobs at once as the server runs on this core and threadpool.
const concurrency = argon2Workers(availableParallelism(), threadpoolSize, cost.parallelism);
const hasher = createPasswordHasher({ cost, concurrency });
const hash = await hasher.hash('bench password');
// A threadpool thread's first job costs ~4 times the next ones here (its memory, fresh); the warmed-up
// authd this rate is compared with has run thousands. Untimed, every thread runs a job or two first.
await Promise.all(Array.from({ length: 2 * threadpoolSize }, () => hasher.verify(hash, 'bench password')));
const deadline = Date.now() + Number(msText);
const started = Date.now();
let done = 0;
const worker = async () => {
  while (Date.now() < deadline) {
    await hasher.verify(hash, 'bench password');
    done += 1;
  }
};
await Promise.all(Array.from({ length: 8 }, worker));
process.stdout.write(`${roundRate((done * 1000) / (Date.now() - started))}\n`);
