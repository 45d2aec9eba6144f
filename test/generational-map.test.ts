import fc from 'fast-check';
import { createGenerationalMap } from '../src/generational-map.js';

describe('generational map', () => {
  it('keeps the newest half of its capacity, never more than its capacity, and forgets in halves', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 20 }), fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 300 }), (capacity, keys) => {
        const map = createGenerationalMap<number, number>(capacity);
        keys.forEach((key, index) => map.set(key, index));
        const distinctNewestFirst = [...new Set([...keys].reverse())];
        for (const key of distinctNewestFirst.slice(0, Math.floor(capacity / 2))) {
          expect(map.get(key)).toBe(keys.lastIndexOf(key));
        }
        const held = distinctNewestFirst.filter((key) => map.get(key) !== undefined);
        expect(held.length).toBeLessThanOrEqual(capacity);
        for (const key of held) expect(map.get(key)).toBe(keys.lastIndexOf(key));
      }),
    );
  });

  it('deletes from both generations', () => {
    const map = createGenerationalMap<string, number>(4);
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3);
    map.set('a', 4);
    map.delete('a');
    expect(map.get('a')).toBeUndefined();
    expect(map.get('b')).toBe(2);
  });
});
