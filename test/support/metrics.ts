/** The value of one sample in `/metrics`, 0 while absent; e.g. `authd_tokens_issued_total{grant_type="password"}`. */
export async function metricValue(baseUrl: string, sample: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

/** How many access tokens the server has issued through one grant type. */
export const tokensIssued = (baseUrl: string, grantType: string): Promise<number> =>
  metricValue(baseUrl, `authd_tokens_issued_total{grant_type="${grantType}"}`);
