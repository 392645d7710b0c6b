// The cipher functions of Noise_NNpsk0_25519_ChaChaPoly_SHA256, from Node's own crypto (the
// Noise spec, revision 34, sections 4 and 12): ENCRYPT/DECRYPT with ChaCha20-Poly1305 and the
// spec's nonce (32 zero bits, then the 64-bit counter little-endian), REKEY, HASH, HMAC and the
// spec's HKDF. The handshake (noise.ts) and the per-frame sealing (seal.ts) both use these and
// nothing else.
//
// Why ChaChaPoly and not AESGCM: measured per core on the build machine (bench/seal-bench.ts,
// docs/PROTOCOL.md), both cost the same (about 1 GB per CPU-second for 64 KiB frames sealed, the
// same fixed ~6 µs per call below that), and ChaCha20-Poly1305 has no per-key data-volume bound to watch
// (AES-GCM's forces a rekey every few hundred GB) and is constant-time without AES hardware.
import { createCipheriv, createDecipheriv, createHash, createHmac } from "node:crypto";

/** Cipher key, bytes (ChaCha20). */
export const KEY_BYTES = 32;
/** Poly1305 tag, bytes, appended to every ciphertext. */
export const TAG_BYTES = 16;
/** SHA-256 output, bytes (the spec's HASHLEN). */
export const HASH_BYTES = 32;

const ALGORITHM = "chacha20-poly1305";
const NONCE_BYTES = 12;
/** The spec's maxnonce (2^64 - 1): reserved for REKEY, never a message's nonce. */
const MAX_NONCE = 0xffff_ffff_ffff_ffffn;
const ZEROS = new Uint8Array(KEY_BYTES);
const EMPTY = new Uint8Array(0);

/** The 96-bit nonce for counter n: 32 zero bits, then n as 64 bits little-endian (spec 12.3). */
function nonceFor(n: number | bigint): Buffer {
  const nonce = Buffer.alloc(NONCE_BYTES);
  if (typeof n === "bigint") {
    nonce.writeBigUInt64LE(n, 4);
  } else {
    // The hot path: a frame counter, a safe integer (seal.ts keeps it below 2^53).
    nonce.writeUInt32LE(n % 0x1_0000_0000, 4);
    nonce.writeUInt32LE(Math.floor(n / 0x1_0000_0000), 8);
  }
  return nonce;
}

/** ENCRYPT(k, n, ad, plaintext): the ciphertext with its tag appended. */
export function encrypt(key: Uint8Array, n: number | bigint, ad: Uint8Array, plaintext: Uint8Array): Buffer {
  const [body, tag] = encryptParts(key, n, ad, plaintext);
  return Buffer.concat([body, tag], body.length + TAG_BYTES);
}

/** ENCRYPT as its two parts, ciphertext and tag, so a caller can lay them out with one copy. */
export function encryptParts(
  key: Uint8Array,
  n: number | bigint,
  ad: Uint8Array,
  plaintext: Uint8Array,
): [Buffer, Buffer] {
  const cipher = createCipheriv(ALGORITHM, key, nonceFor(n), { authTagLength: TAG_BYTES });
  cipher.setAAD(ad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  cipher.final();
  return [body, cipher.getAuthTag()];
}

/**
 * DECRYPT(k, n, ad, ciphertext || tag): the plaintext, or undefined when the tag does not verify
 * (or the input is shorter than a tag). Never throws for hostile input.
 */
export function decrypt(
  key: Uint8Array,
  n: number | bigint,
  ad: Uint8Array,
  sealed: Uint8Array,
): Buffer | undefined {
  if (sealed.length < TAG_BYTES) return undefined;
  const bodyBytes = sealed.length - TAG_BYTES;
  const decipher = createDecipheriv(ALGORITHM, key, nonceFor(n), { authTagLength: TAG_BYTES });
  decipher.setAAD(ad, { plaintextLength: bodyBytes });
  decipher.setAuthTag(sealed.subarray(bodyBytes));
  const body = decipher.update(sealed.subarray(0, bodyBytes));
  try {
    decipher.final(); // throws when the tag does not verify
  } catch {
    return undefined;
  }
  return body;
}

/** REKEY(k): the first 32 bytes of ENCRYPT(k, maxnonce, empty, 32 zero bytes) (spec 4.2). */
export function rekey(key: Uint8Array): Buffer {
  return encrypt(key, MAX_NONCE, EMPTY, ZEROS).subarray(0, KEY_BYTES);
}

/** HASH(data...) with SHA-256. */
export function hash(...parts: Uint8Array[]): Buffer {
  const h = createHash("sha256");
  for (const part of parts) h.update(part);
  return h.digest();
}

/** HMAC-SHA256(key, data...). */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac("sha256", key);
  for (const part of parts) h.update(part);
  return h.digest();
}

/**
 * The spec's HKDF(chaining_key, input_key_material, num_outputs) (section 4.3): HKDF (RFC 5869)
 * with the chaining key as salt and empty info, returning `outputs` blocks of HASH_BYTES.
 */
export function hkdf(chainingKey: Uint8Array, input: Uint8Array, outputs: 2 | 3): Buffer[] {
  const temp = hmac(chainingKey, input);
  const out: Buffer[] = [];
  let previous: Uint8Array = EMPTY;
  for (let i = 1; i <= outputs; i++) {
    previous = hmac(temp, previous, Uint8Array.of(i));
    out.push(previous as Buffer);
  }
  return out;
}
