import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { MAX_PASSWORD_BYTES } from '../passwords/password-hasher.js';
import { CliError } from './context.js';

/**
 * The password for `user add` / `user password`: the first line of stdin without its newline
 * when stdin is not a terminal, else a prompt asked twice with echo off. Never an argument.
 */
export async function readPassword(): Promise<string> {
  const password = process.stdin.isTTY ? await promptTwice() : await firstLine();
  if (password === '') throw new CliError('the password is empty');
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw new CliError(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`);
  return password;
}

async function firstLine(): Promise<string> {
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    lines.close();
    return line;
  }
  return '';
}

async function promptTwice(): Promise<string> {
  const first = await ask('Password: ');
  const second = await ask('Repeat password: ');
  if (first !== second) throw new CliError('the passwords do not match');
  return first;
}

/** Asks on stderr with the typed characters hidden. */
function ask(question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const prompt = createInterface({ input: process.stdin, output, terminal: true });
  return new Promise((resolve, reject) => {
    let answered = false;
    prompt.question(question, (answer) => {
      answered = true;
      prompt.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    // Ctrl-C and Ctrl-D reach readline as keys (the terminal is raw) and close the prompt without
    // an answer; unanswered, the command would wait for good, its connections keeping it alive.
    prompt.on('close', () => {
      if (answered) return;
      process.stderr.write('\n');
      reject(new CliError('cancelled'));
    });
    muted = true;
  });
}
