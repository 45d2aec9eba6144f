import { setTimeout as sleep } from 'node:timers/promises';
import { createRevocationFeed } from '../../src/stores/denylist-events.js';
import { leaseTestRedis, proxiedAuthdRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await leaseTestRedis();
});
afterAll(() => redis.release());

describe('the revocation feed', () => {
  it('keeps the subscription a new link confirmed when a SUBSCRIBE sent on the dropped link times out', async () => {
    let dropped = false;
    const { client, close } = await proxiedAuthdRedis(redis.url, {
      // The first SUBSCRIBE's answer is lost, and its link drops a moment later.
      dropFromServer: (chunk, proxy) => {
        if (dropped || !chunk.includes('subscribe')) return false;
        dropped = true;
        setTimeout(() => proxy.reset(), 50);
        return true;
      },
    });
    const feed = createRevocationFeed(client);
    const events: string[] = [];
    try {
      feed.follow({
        subscribed: () => events.push('subscribed'),
        lost: () => events.push('lost'),
        revoked: () => events.push('revoked'),
        malformed: () => events.push('malformed'),
      });
      // Past the lost SUBSCRIBE's 1 s timeout.
      await sleep(2000);
      expect(dropped).toBe(true);
      expect(events).toEqual(['lost', 'subscribed']);
    } finally {
      await feed.close();
      await close();
    }
  });
});
