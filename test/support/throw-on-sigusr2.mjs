// Loaded into a server under test with --import: SIGUSR2 makes it throw an error that nothing
// catches, its message holding what looks like a refresh token.
process.on('SIGUSR2', () => {
  throw new Error(`boom rt_${'A'.repeat(43)}`);
});
