// Every limit of the wire format, with its unit and its reason. Decoders check them as soon as the
// header is read, before looking at (or allocating for) the payload.

/**
 * Protocol versions this build speaks. v1: first version (handshake, DATA batches, PING/PONG,
 * CLOSE). v2: a Noise handshake and every end-to-end frame sealed (docs/PROTOCOL.md); v1 is not
 * spoken any more: no fallback to frames a relay can read or forge.
 */
export const PROTOCOL_VERSION_MIN = 2;
export const PROTOCOL_VERSION_MAX = 2;

/** Bytes in every frame header: type u8, flags u8, count u16, payload length u32. */
export const HEADER_BYTES = 8;

/** Largest IP packet carried, bytes. The u16 length prefix in DATA cannot say more. */
export const MAX_PACKET_BYTES = 65_535;

/** Most packets in one DATA frame: bounds the work one message causes at the receiver. */
export const MAX_PACKETS_PER_FRAME = 512;

/** Largest frame, bytes, header included: 512 KiB keeps one message's latency small on slow links. */
export const MAX_FRAME_BYTES = 512 * 1024;

/**
 * Largest DATA frame a batch is packed into, bytes: MAX_FRAME_BYTES less the 24 bytes sealing adds
 * (a 64-bit counter and a 16-byte tag, tunnel/seal.ts), so the sealed frame still fits.
 */
export const MAX_DATA_FRAME_BYTES = MAX_FRAME_BYTES - 24;

/** Largest text (base64) frame, characters: the base64 image of the largest binary frame. */
export const MAX_TEXT_FRAME_CHARS = Math.ceil(MAX_FRAME_BYTES / 3) * 4;

/** Handshake nonce, bytes: fresh per connection so a recorded HELLO cannot be replayed. */
export const NONCE_BYTES = 32;

/** HMAC-SHA256 output, bytes. */
export const MAC_BYTES = 32;

/** Session id, bytes. */
export const SESSION_ID_BYTES = 16;

/** Resume token, bytes. */
export const RESUME_TOKEN_BYTES = 32;

/** Client id (the key's name), UTF-8 bytes. */
export const MAX_CLIENT_ID_BYTES = 64;

/** CLOSE reason, UTF-8 bytes: a sentence for a human, not a document. */
export const MAX_REASON_BYTES = 256;

/** DNS servers announced in WELCOME. */
export const MAX_DNS_SERVERS = 4;
