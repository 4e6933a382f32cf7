import { gzipSync } from 'node:zlib';

export interface PostOptions {
  key?: string;
  contentType?: string;
  headers?: Record<string, string>;
  gzip?: boolean;
  path?: string;
}

export const OPENROUTER_PATH = '/developer/v1/ai-usage/openrouter';

/** POSTs a body the way a sender would; objects are sent as JSON. */
export async function post(baseUrl: string, payload: object | Buffer | string, opts: PostOptions = {}): Promise<Response> {
  const raw = Buffer.isBuffer(payload) || typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(JSON.stringify(payload));
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json', ...opts.headers };
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  let data: Buffer = raw;
  if (opts.gzip) {
    data = gzipSync(raw);
    headers['content-encoding'] = 'gzip';
  }
  return fetch(baseUrl + (opts.path ?? OPENROUTER_PATH), { method: 'POST', headers, body: new Uint8Array(data) });
}
