import { setTimeout as sleep } from 'node:timers/promises';
import { createMetrics } from '../../src/observability/metrics.js';

/** The value of a gauge as /metrics would show it. */
async function gaugeValue(metrics: ReturnType<typeof createMetrics>, name: string): Promise<number | undefined> {
  const metric = metrics.registry.getSingleMetric(name);
  return (await metric?.get())?.values[0]?.value;
}

const blockFor = (ms: number) => {
  const until = Date.now() + ms;
  while (Date.now() < until);
};

describe('the default metrics', () => {
  // Node's monitor records each sample's whole interval, the sampling period included: a coarser
  // period (fewer wake-ups) would move every lag gauge of an idle server by it, and every alert on them.
  it('sample the event loop lag: a blocked loop shows in the max, an idle one reads about the 10 ms period', async () => {
    const metrics = createMetrics();
    await sleep(250);
    blockFor(300);
    await sleep(250);
    // Read at the scrape, which resets the histogram for the next one.
    await metrics.registry.metrics();
    expect(await gaugeValue(metrics, 'authd_nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(0.15);
    // About 0.010 when idle; well below what a 100 ms period would read, with room for a loaded machine.
    expect(await gaugeValue(metrics, 'authd_nodejs_eventloop_lag_p50_seconds')).toBeLessThan(0.08);
  });
});
