import { invalidRequest } from '../errors/oauth-error.js';

/** A request's body parameters, as RFC 6749 §3.1–3.2 reads them. */
export interface RequestParams {
  /**
   * The parameter's value; undefined when it was omitted or sent without a value. `invalid_request`
   * when a JSON body gave it a value that is not a string: only a parameter that is read is
   * checked, so the ones authd does not read are ignored whatever they hold.
   */
  get(name: string): string | undefined;
  /**
   * Whether a parameter that may be repeated (PARAMETERS_THAT_MAY_REPEAT) was sent more than once;
   * `get` then gives its first value, and the reader decides what the repetition means.
   */
  sentMoreThanOnce(name: string): boolean;
}

/**
 * The parameters a request may send more than once: RFC 8707 §2's `resource`, one per resource the
 * token is meant for. Any other is `invalid_request` when repeated (RFC 6749 §3.1).
 */
export const PARAMETERS_THAT_MAY_REPEAT: ReadonlySet<string> = new Set(['resource']);

/**
 * Parameters with these values; `malformed` maps a name to what is wrong with the value sent for
 * it, and `repeated` holds the names of PARAMETERS_THAT_MAY_REPEAT sent more than once.
 */
export function requestParams(
  values: ReadonlyMap<string, string>,
  malformed: ReadonlyMap<string, string> = new Map(),
  repeated: ReadonlySet<string> = new Set(),
): RequestParams {
  return {
    get(name) {
      const problem = malformed.get(name);
      if (problem !== undefined) throw invalidRequest(`parameter ${JSON.stringify(name)} ${problem}`);
      return values.get(name);
    },
    sentMoreThanOnce: (name) => repeated.has(name),
  };
}

/** A parameter that must be sent: `invalid_request` when it was omitted or sent without a value. */
export function requiredParam(params: RequestParams, name: string): string {
  const value = params.get(name);
  if (value === undefined) throw invalidRequest(`${name} is required`);
  return value;
}
