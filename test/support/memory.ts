import { readFileSync } from 'node:fs';

/**
 * Whether this host refuses an allocation far beyond its memory (4 TiB), as Linux does unless told
 * to overcommit always (`vm.overcommit_memory=1`, which Redis hosts often set): there, argon2 would
 * get the memory and fill it, and the test runner would be killed rather than see the refusal.
 */
export const refusesHugeAllocations = ((): boolean => {
  try {
    return readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim() !== '1';
  } catch {
    return false;
  }
})();

/** `hash` with argon2's largest memory cost (4 TiB), which a host that refuses huge allocations cannot give it. */
export const withUnallocatableMemory = (hash: string): string => hash.replace(/m=\d+/, `m=${2 ** 32 - 1}`);
