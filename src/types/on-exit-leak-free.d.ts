// on-exit-leak-free ships no types; this is the part authd uses (its README's API).
declare module 'on-exit-leak-free' {
  /** Calls `shutdown(object, 'exit')` when the process exits, unless `object` was collected first. */
  export function register<T extends object>(object: T, shutdown: (object: T, event: 'exit') => void): void;
}
