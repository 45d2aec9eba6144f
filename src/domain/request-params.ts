import { invalidRequest } from '../errors/oauth-error.js';

/** A request's body parameters, as RFC 6749 §3.1–3.2 reads them. */
export interface RequestParams {
  /**
   * The parameter's value; undefined when it was omitted or sent without a value. `invalid_request`
   * when a JSON body gave it a value that is not a string: only a parameter that is read is
   * checked, so the ones authd does not read are ignored whatever they hold.
   */
  get(name: string): string | undefined;
}

/** Parameters with these values; `malformed` maps a name to what is wrong with the value sent for it. */
export function requestParams(values: ReadonlyMap<string, string>, malformed: ReadonlyMap<string, string> = new Map()): RequestParams {
  return {
    get(name) {
      const problem = malformed.get(name);
      if (problem !== undefined) throw invalidRequest(`parameter ${JSON.stringify(name)} ${problem}`);
      return values.get(name);
    },
  };
}

/** A parameter that must be sent: `invalid_request` when it was omitted or sent without a value. */
export function requiredParam(params: RequestParams, name: string): string {
  const value = params.get(name);
  if (value === undefined) throw invalidRequest(`${name} is required`);
  return value;
}
