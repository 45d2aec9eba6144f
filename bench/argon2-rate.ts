// Child script: prints argon2id verifications per second at the given cost, through authd's hasher.
import { createPasswordHasher } from '../src/passwords/password-hasher.js';
import { roundRate } from './rates.js';

const [costJson, msText] = process.argv.slice(2) as [string, string];
const hasher = createPasswordHasher({ cost: JSON.parse(costJson) as { memoryCost: number; timeCost: number; parallelism: number } });
const hash = await hasher.hash('bench password');
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
