/** A map that keeps at most `capacity` entries, forgetting the oldest half at a time. */
export interface GenerationalMap<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): void;
}

/**
 * Two generations of `capacity / 2` entries: new entries go to the young one, and when it is full
 * it becomes the old one and the previous old one is dropped whole. Every operation is O(1).
 * Evicting a plain Map's oldest key one at a time is not: `keys().next()` walks over the holes
 * earlier deletions left (measured ~6.5 µs per insertion at 10,000 entries of token-sized keys).
 */
export function createGenerationalMap<K, V>(capacity: number): GenerationalMap<K, V> {
  const generationSize = Math.max(1, Math.floor(capacity / 2));
  let young = new Map<K, V>();
  let old = new Map<K, V>();
  return {
    get: (key) => young.get(key) ?? old.get(key),
    set(key, value) {
      if (young.size >= generationSize && !young.has(key)) {
        old = young;
        young = new Map();
      }
      young.set(key, value);
    },
    delete(key) {
      young.delete(key);
      old.delete(key);
    },
  };
}
