import { loggedUsername } from '../../src/domain/user.js';

describe('loggedUsername', () => {
  it('keeps a username of up to 128 characters as typed', () => {
    expect(loggedUsername('a'.repeat(128))).toBe('a'.repeat(128));
    expect(loggedUsername('Älice\u0001')).toBe('Älice\u0001');
  });

  it('cuts a longer one after 128 characters and marks the cut', () => {
    expect(loggedUsername('a'.repeat(16_000))).toBe(`${'a'.repeat(128)}…`);
  });

  it('never keeps half of a character written as two UTF-16 units', () => {
    expect(loggedUsername(`${'a'.repeat(127)}😀😀`)).toBe(`${'a'.repeat(127)}…`);
    expect(loggedUsername(`${'a'.repeat(126)}😀😀`)).toBe(`${'a'.repeat(126)}😀…`);
  });
});
