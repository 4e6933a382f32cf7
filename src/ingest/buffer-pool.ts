import { Buffer } from 'node:buffer';

/** Node 20's pool size, the default before Node 26.3, and the one the server was measured with. */
const BUFFER_POOL_BYTES = 8 * 1024;

/**
 * Node gives a buffer under half of `Buffer.poolSize` a slice of one shared ArrayBuffer. Node 26.3
 * (and Node 24 after it) raised the pool from 8 KB to 64 KB, so a request body of up to 32 KB (every
 * OpenRouter delivery) became such a slice: copied to its preparation thread, not moved (see
 * `movable`), and keeping the whole 64 KB alive while any of it lives. On the container's Node 26
 * the server then peaked at 251–295 MB under the bench, against 251–269 with 8 KB, and took
 * privacy JSON no faster than Node 20, against 5–11% faster with 8 KB (bench/README.md, "A
 * fifty-eighth machine"). Each thread has its own pool, so each sets it.
 */
export function keepBufferPoolSmall(): void {
  Buffer.poolSize = BUFFER_POOL_BYTES;
}
