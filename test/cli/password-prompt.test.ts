// The password prompt on a terminal: util-linux `script` gives `authd user add` a pseudo-terminal,
// and the test types at the prompts as a person would.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import argon2 from 'argon2';
import { processEnvironment, ROOT, type ProcessEnvironment } from '../support/cli.js';

let environment: ProcessEnvironment;

beforeAll(async () => {
  environment = await processEnvironment();
});
afterAll(() => environment.cleanup());

const hasScript = spawnSync('script', ['--version']).status === 0;
const onTerminal = hasScript ? it : it.skip;

/** Runs `authd <args>` on a pseudo-terminal, answering each prompt in turn; resolves with what the terminal showed. */
function typeAtPrompts(args: string[], answers: string[]): Promise<{ status: number | null; screen: string }> {
  const command = [process.execPath, join(ROOT, 'bin', 'authd.js'), ...args].map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: ROOT, env: environment.env });
  let screen = '';
  let prompts = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    screen += chunk.toString();
    const asked = screen.split('assword: ').length - 1;
    while (prompts < asked && prompts < answers.length) child.stdin.write(`${answers[prompts++]}\r`);
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) => {
    child.on('close', (status) => {
      clearTimeout(killer);
      resolve({ status, screen });
    });
  });
}

describe('authd user add on a terminal', () => {
  onTerminal('asks twice with the typed characters hidden, and stores the argon2id hash', async () => {
    const { status, screen } = await typeAtPrompts(['user', 'add', 'tess'], ['tty secret 1', 'tty secret 1']);
    expect(status).toBe(0);
    expect(screen).toContain('Password: ');
    expect(screen).toContain('Repeat password: ');
    expect(screen).toMatch(/user: tess\r?\nid: [0-9a-f-]{36}/);
    expect(screen).not.toContain('tty secret');
    const [row] = await environment.db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE username = $1', ['tess']);
    expect(await argon2.verify(row!.password_hash, 'tty secret 1')).toBe(true);
  });

  onTerminal('refuses two different answers and creates no user', async () => {
    const { status, screen } = await typeAtPrompts(['user', 'add', 'uma'], ['one secret', 'another secret']);
    expect(status).toBe(1);
    expect(screen).toContain('authd: the passwords do not match');
    expect(screen).not.toContain('secret');
    expect(await environment.db.query('SELECT 1 FROM users WHERE username = $1', ['uma'])).toEqual([]);
  });

  onTerminal.each([
    ['Ctrl-C', '\x03'],
    ['Ctrl-D', '\x04'],
  ])('ends with "cancelled" and creates no user when %s is typed at the prompt', async (_key, typed) => {
    const { status, screen } = await typeAtPrompts(['user', 'add', 'vera'], [typed]);
    expect(status).toBe(1);
    expect(screen).toContain('authd: cancelled');
    expect(await environment.db.query('SELECT 1 FROM users WHERE username = $1', ['vera'])).toEqual([]);
  });
});
