// What the test internet serves, shared by its server (e2e/internet-server.ts) and the tests that
// check what arrived. The payload is deterministic: AES-128-CTR's keystream under a key derived from
// the seed, which Node produces at gigabytes per second, so a test can hash the expected bytes
// in-process instead of trusting a header the server could only send before streaming.
import { createCipheriv, createHash } from "node:crypto";
import { e2eError } from "./errors.js";

/** GET /hello's body. */
export const HELLO_TEXT = "hello from the internet";

/** GET /'s page, for a browser to load. */
export const HELLO_HTML = `<!doctype html><html><head><title>Tether e2e internet</title></head><body><p id="hello">${HELLO_TEXT}</p></body></html>`;

/** The largest /bytes/<N>: 1 GiB, the biggest download a benchmark asks for. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024 * 1024;
/** Longest seed accepted (it is a query parameter, not a secret). */
export const MAX_SEED_LENGTH = 64;
/** One chunk of the stream: large enough to be cheap, small enough to keep memory flat. */
const CHUNK_BYTES = 64 * 1024;
const ZEROS = Buffer.alloc(CHUNK_BYTES);

/** The N pseudo-random bytes for a seed, in chunks of at most 64 KiB, generated as they are consumed. */
export function* payloadChunks(n: number, seed: string): Generator<Buffer> {
  checkPayload(n, seed);
  const key = createHash("sha256").update(`tether-e2e-payload:${seed}`).digest().subarray(0, 16);
  const keystream = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  for (let left = n; left > 0; left -= CHUNK_BYTES) {
    yield keystream.update(left >= CHUNK_BYTES ? ZEROS : ZEROS.subarray(0, left));
  }
}

/** Hex SHA-256 of payloadChunks(n, seed): what a download of /bytes/<n>?seed=<seed> must hash to. */
export function expectedSha256(n: number, seed: string): string {
  const hash = createHash("sha256");
  for (const chunk of payloadChunks(n, seed)) hash.update(chunk);
  return hash.digest("hex");
}

function checkPayload(n: number, seed: string): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_PAYLOAD_BYTES) {
    throw e2eError("E2E_BAD_ARGUMENT", `payload size must be 0..${MAX_PAYLOAD_BYTES} bytes, got ${n}`);
  }
  if (seed.length > MAX_SEED_LENGTH) {
    throw e2eError("E2E_BAD_ARGUMENT", `seed longer than ${MAX_SEED_LENGTH} characters`);
  }
}

/**
 * Parses `/bytes/<N>?seed=<S>`: undefined when the path is not /bytes/<digits>, { error } when it
 * asks for more than the limits allow.
 */
export function parseBytesRequest(url: string): { n: number; seed: string } | { error: string } | undefined {
  const parsed = new URL(url, "http://internet.test");
  const match = /^\/bytes\/(\d{1,12})$/.exec(parsed.pathname);
  if (match?.[1] === undefined) return undefined;
  const n = Number(match[1]);
  const seed = parsed.searchParams.get("seed") ?? "";
  if (n > MAX_PAYLOAD_BYTES) return { error: `at most ${MAX_PAYLOAD_BYTES} bytes` };
  if (seed.length > MAX_SEED_LENGTH) return { error: `seed longer than ${MAX_SEED_LENGTH} characters` };
  return { n, seed };
}
