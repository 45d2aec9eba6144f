import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { startTestServer } from '../support/server.js';

describe('shutdown', () => {
  it("lets the denylist's running work (the start's re-seed and load, a sync) end before it closes Postgres and Redis", async () => {
    const first = await startTestServer();
    // A revocation recorded elsewhere (the CLI): a re-seed, a load or a sync reads it, then asks Redis about it.
    await first.db.query(`INSERT INTO revocations (jti, expires_at, reason, revoked_at) VALUES ('from-the-cli', now() + interval '10 minutes', 'revoked', now())`);
    const locker = new pg.Client({ connectionString: first.db.url });
    await locker.connect();
    try {
      // A second instance starts while its reads of the revocations wait: they are running when it shuts down.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE revocations IN ACCESS EXCLUSIVE MODE');
      const second = await startTestServer({ alongside: first, denylistSyncMs: 50 });
      await first.db.blockedOnALock("the second instance's re-seed");

      let ended = false;
      const shutdown = second.running.shutdown().then(() => (ended = true));
      await sleep(300);
      expect(ended).toBe(false);
      await locker.query('COMMIT');
      await shutdown;
      const warnings = second.logs.lines.filter((line) => line['level'] === 'warn').map((line) => line['msg']);
      expect(warnings).toEqual([]);
    } finally {
      await locker.end();
      await first.stop();
    }
  });
});
