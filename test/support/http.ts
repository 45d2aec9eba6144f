/** Headers the HTTP connection adds, not the application. */
const CONNECTION_HEADERS = new Set(['date', 'connection', 'keep-alive']);

/** A response's status, the application's headers and the body: to compare two answers whole. */
export async function responseSnapshot(response: Response): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const headers = Object.fromEntries([...response.headers].filter(([name]) => !CONNECTION_HEADERS.has(name)));
  return { status: response.status, headers, body: await response.text() };
}
