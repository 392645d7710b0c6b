// The v2 handshake: Noise_NNpsk0_25519_ChaChaPoly_SHA256 (the Noise Protocol Framework, revision
// 34), laptop as initiator, exit as responder, the client key's secret as the PSK:
//
//   NNpsk0:
//     -> psk, e        HELLO     laptop's ephemeral key; payload sealed under a key from the PSK
//     <- e, ee         RESPONSE  exit's ephemeral key; payload sealed under PSK + DH(e, e)
//
// Each message proves its sender holds the PSK (the payload's tag is under a key derived from
// it); the ee DH gives forward secrecy (a client key stolen later opens no recorded session); the
// prologue binds the handshake to the exit's fresh CHALLENGE nonce and to every clear field of
// CHALLENGE and HELLO (noise-messages.ts), so a recorded HELLO fails on any other connection and
// no clear field can be changed unnoticed. Split() gives one key per direction, plus (the spec's
// HKDF run for a third output) the resume secret that binds a later resume to this handshake.
//
// Hostile input never throws: readMessage answers a HandshakeFailure and leaves the handshake as
// it was, so a forged message does not spoil it and the genuine one can still follow (as
// WireGuard ignores a message that does not authenticate). Calling steps out of order is a
// programming error and throws.
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { decrypt, encrypt, HASH_BYTES, hash, hkdf, KEY_BYTES, TAG_BYTES } from "./noise-cipher.js";

export const NOISE_PROTOCOL = "Noise_NNpsk0_25519_ChaChaPoly_SHA256";

/** X25519 public key, bytes. */
export const DH_BYTES = 32;
/** Pre-shared key, bytes: the client key's secret. */
export const PSK_BYTES = 32;

export type HandshakeRole = "initiator" | "responder";

/** Why a handshake message was refused; counted by the caller. */
export type HandshakeFailure =
  /** Shorter than an ephemeral key and a tag. */
  | "bad_length"
  /** The ephemeral key is one X25519 refuses (a low-order point: the shared secret is zero). */
  | "bad_key"
  /** The payload's tag does not verify: another PSK, another prologue, or a changed byte. */
  | "auth_failed";

export type ReadResult =
  | {
      ok: true;
      payload: Buffer;
      /** The handshake hash just before the payload: what a resume proof in it is made over. */
      boundHash: Buffer;
    }
  | { ok: false; reason: HandshakeFailure };

export interface TransportKeys {
  /** Key for the frames this end sends. */
  send: Buffer;
  /** Key for the frames this end receives. */
  receive: Buffer;
  /** The final handshake hash h: the same on both ends, unique per handshake. */
  handshakeHash: Buffer;
  /** The third output of Split's HKDF: secret, forward-secret, the same on both ends. */
  resumeSecret: Buffer;
}

/** DER prefixes that wrap a raw X25519 key for Node's key import (RFC 8410). */
const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_X25519 = Buffer.from("302a300506032b656e032100", "hex");

function rawPublicKey(privateKey: KeyObject): Buffer {
  return createPublicKey(privateKey).export({ type: "spki", format: "der" }).subarray(SPKI_X25519.length);
}

/** DH(private, public) with X25519; undefined for a public key X25519 refuses. */
function dh(privateKey: KeyObject, publicKey: Uint8Array): Buffer | undefined {
  try {
    const key = createPublicKey({
      key: Buffer.concat([SPKI_X25519, publicKey]),
      format: "der",
      type: "spki",
    });
    return diffieHellman({ privateKey, publicKey: key });
  } catch {
    return undefined; // OpenSSL refuses an all-zero shared secret (a low-order point)
  }
}

/** The spec's SymmetricState (section 5.2), with the CipherState it holds. */
class SymmetricState {
  private ck: Buffer;
  private h: Buffer;
  private k: Buffer | undefined;
  private n = 0;

  constructor(protocolName: string) {
    const name = Buffer.from(protocolName, "ascii");
    this.h = name.length <= HASH_BYTES ? Buffer.concat([name], HASH_BYTES) : hash(name);
    this.ck = this.h;
  }

  get handshakeHash(): Buffer {
    return this.h;
  }

  /** Everything this state holds, to go back to when a message read into it fails. */
  snapshot(): [Buffer, Buffer, Buffer | undefined, number] {
    return [this.ck, this.h, this.k, this.n];
  }

  restore([ck, h, k, n]: [Buffer, Buffer, Buffer | undefined, number]): void {
    this.ck = ck;
    this.h = h;
    this.k = k;
    this.n = n;
  }

  mixHash(data: Uint8Array): void {
    this.h = hash(this.h, data);
  }

  mixKey(input: Uint8Array): void {
    const [ck, k] = hkdf(this.ck, input, 2) as [Buffer, Buffer];
    this.ck = ck;
    this.k = k.subarray(0, KEY_BYTES);
    this.n = 0;
  }

  mixKeyAndHash(input: Uint8Array): void {
    const [ck, h, k] = hkdf(this.ck, input, 3) as [Buffer, Buffer, Buffer];
    this.ck = ck;
    this.mixHash(h);
    this.k = k.subarray(0, KEY_BYTES);
    this.n = 0;
  }

  encryptAndHash(plaintext: Uint8Array): Buffer {
    const out = this.k ? encrypt(this.k, this.n++, this.h, plaintext) : Buffer.from(plaintext);
    this.mixHash(out);
    return out;
  }

  decryptAndHash(ciphertext: Uint8Array): Buffer | undefined {
    let out: Buffer | undefined = Buffer.from(ciphertext);
    if (this.k) {
      out = decrypt(this.k, this.n, this.h, ciphertext);
      if (!out) return undefined;
      this.n++;
    }
    this.mixHash(ciphertext);
    return out;
  }

  /** Split(): the initiator's and the responder's sending keys, and the resume secret. */
  split(): [Buffer, Buffer, Buffer] {
    const [k1, k2, resume] = hkdf(this.ck, Buffer.alloc(0), 3) as [Buffer, Buffer, Buffer];
    return [k1.subarray(0, KEY_BYTES), k2.subarray(0, KEY_BYTES), resume];
  }
}

type Step = "write-1" | "read-1" | "write-2" | "read-2" | "done";

/**
 * One NNpsk0 handshake. The initiator calls writeMessage then readMessage; the responder
 * readMessage then writeMessage; then both call keys(). `ephemeralPrivateKey` is for golden
 * vectors only; without it a fresh key is generated.
 */
export class NoiseHandshake {
  private readonly state = new SymmetricState(NOISE_PROTOCOL);
  private readonly e: KeyObject;
  private readonly ePublic: Buffer;
  private step: Step;
  /** The responder's DH(e, re), worked out when message 1 is read (a refused key fails there). */
  private ee: Buffer | undefined;

  constructor(
    private readonly role: HandshakeRole,
    private readonly psk: Uint8Array,
    prologue: Uint8Array,
    ephemeralPrivateKey?: Uint8Array,
  ) {
    if (psk.length !== PSK_BYTES) throw new Error(`a Noise PSK is ${PSK_BYTES} bytes`);
    this.e = ephemeralPrivateKey
      ? createPrivateKey({
          key: Buffer.concat([PKCS8_X25519, ephemeralPrivateKey]),
          format: "der",
          type: "pkcs8",
        })
      : generateKeyPairSync("x25519").privateKey;
    this.ePublic = rawPublicKey(this.e);
    this.step = role === "initiator" ? "write-1" : "read-1";
    this.state.mixHash(prologue);
  }

  /**
   * The next handshake message carrying `payload` (or the payload made from the handshake hash at
   * that point: a resume proof).
   */
  writeMessage(payload: Uint8Array | ((boundHash: Buffer) => Uint8Array)): Buffer {
    if (this.step !== "write-1" && this.step !== "write-2") throw new Error(`writeMessage at ${this.step}`);
    const first = this.step === "write-1";
    const { state } = this;
    if (first) state.mixKeyAndHash(this.psk); // psk
    const { ePublic } = this; // e (psk mode: MixKey too)
    state.mixHash(ePublic);
    state.mixKey(ePublic);
    if (!first) state.mixKey(this.ee!); // ee
    const body = state.encryptAndHash(typeof payload === "function" ? payload(state.handshakeHash) : payload);
    this.step = first ? "read-2" : "done";
    return Buffer.concat([ePublic, body]);
  }

  /** Reads the peer's handshake message: its payload, or why it is refused. */
  readMessage(message: Uint8Array): ReadResult {
    if (this.step !== "read-1" && this.step !== "read-2") throw new Error(`readMessage at ${this.step}`);
    if (message.length < DH_BYTES + TAG_BYTES) return { ok: false, reason: "bad_length" };
    const first = this.step === "read-1";
    const { state } = this;
    const saved = state.snapshot();
    const fail = (reason: HandshakeFailure): ReadResult => {
      state.restore(saved); // a forged message leaves no trace: the genuine one can still come
      return { ok: false, reason };
    };
    if (first) state.mixKeyAndHash(this.psk); // psk
    const re = Buffer.from(message.subarray(0, DH_BYTES)); // e
    state.mixHash(re);
    state.mixKey(re);
    // ee: the initiator mixes it now; the responder at its write, but refuses a bad key now.
    const shared = dh(this.e, re);
    if (!shared) return fail("bad_key");
    if (first) this.ee = shared;
    else state.mixKey(shared);
    const boundHash = state.handshakeHash;
    const payload = state.decryptAndHash(message.subarray(DH_BYTES));
    if (!payload) return fail("auth_failed");
    this.step = first ? "write-2" : "done";
    return { ok: true, payload, boundHash };
  }

  /** The transport keys, once both messages have passed. */
  keys(): TransportKeys {
    if (this.step !== "done") throw new Error(`keys at ${this.step}`);
    const [initiatorKey, responderKey, resumeSecret] = this.state.split();
    const initiator = this.role === "initiator";
    return {
      send: initiator ? initiatorKey : responderKey,
      receive: initiator ? responderKey : initiatorKey,
      handshakeHash: this.state.handshakeHash,
      resumeSecret,
    };
  }
}
