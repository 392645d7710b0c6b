// The v2 handshake, as a spec: golden vectors from a published implementation, then round trips
// and every refusal. Vectors: the Noise_NNpsk0_25519_ChaChaPoly_SHA256 entry of cacophony's test
// vectors (https://github.com/haskell-cryptography/cacophony, vectors/cacophony.txt, commit
// 8ee9d41e34a1a596cfa3ab12aa4069ff87dc1247; the same entry is in mcginty/snow,
// tests/vectors/cacophony.txt). Only the vector data is taken from there.
import { describe, expect, it } from "vitest";
import { DH_BYTES, NOISE_PROTOCOL, NoiseHandshake } from "./noise.js";
import { decrypt, encrypt } from "./noise-cipher.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const text = (b: Uint8Array) => Buffer.from(b).toString("hex");

const vector = {
  protocol_name: "Noise_NNpsk0_25519_ChaChaPoly_SHA256",
  prologue: hex("4a6f686e2047616c74"),
  psk: hex("54686973206973206d7920417573747269616e20706572737065637469766521"),
  init_ephemeral: hex("893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a"),
  resp_ephemeral: hex("bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b"),
  handshake_hash: "f4d03dc34495c95729ea6de9e1b59004b59733102488b3e24bc441e0be208eaf",
  messages: [
    {
      payload: "4c756477696720766f6e204d69736573",
      ciphertext:
        "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c794479b962b8aff8485742ac32f905ba45369e2465fb59e138a93d67a0d1266b6a54",
    },
    {
      payload: "4d757272617920526f746862617264",
      ciphertext:
        "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843d6062704d5a9c422a8e834423f8c1feada7e8d0d910a1a2cd030fb584221e3",
    },
    {
      payload: "462e20412e20486179656b",
      ciphertext: "e632c3763d7669067383433197a3baddf146e9e70ad4b4e9e59e0f",
    },
    {
      payload: "4361726c204d656e676572",
      ciphertext: "64c6bee32ea91c8474bb4c21d7a700109ad45af77b29764ba5eb1e",
    },
    {
      payload: "4a65616e2d426170746973746520536179",
      ciphertext: "e2fa0bed0603b62d3ccac2ecabbf3fe33f3e86514909b323361626266cb2471cc8",
    },
    {
      payload: "457567656e2042f6686d20766f6e2042617765726b",
      ciphertext: "0c01dc9cec1fe4ddd692e8dd32188aa351088dc91183639a53b57aa4692b5ebdef8b8ca111",
    },
  ],
};

function vectorPair() {
  const initiator = new NoiseHandshake("initiator", vector.psk, vector.prologue, vector.init_ephemeral);
  const responder = new NoiseHandshake("responder", vector.psk, vector.prologue, vector.resp_ephemeral);
  return { initiator, responder };
}

function handshake(psk = Buffer.alloc(32, 7), prologue = Buffer.from("prologue")) {
  const initiator = new NoiseHandshake("initiator", psk, prologue);
  const responder = new NoiseHandshake("responder", psk, prologue);
  return { initiator, responder };
}

describe("Noise_NNpsk0_25519_ChaChaPoly_SHA256 golden vectors (cacophony)", () => {
  it("is the protocol the vectors name", () => {
    expect(NOISE_PROTOCOL).toBe(vector.protocol_name);
  });

  it("writes both handshake messages byte for byte and reads each side's payload", () => {
    const { initiator, responder } = vectorPair();
    const [m1, m2] = vector.messages as [(typeof vector.messages)[0], (typeof vector.messages)[0]];
    const first = initiator.writeMessage(hex(m1.payload));
    expect(text(first)).toBe(m1.ciphertext);
    const read1 = responder.readMessage(first);
    expect(read1.ok && text(read1.payload)).toBe(m1.payload);
    const second = responder.writeMessage(hex(m2.payload));
    expect(text(second)).toBe(m2.ciphertext);
    const read2 = initiator.readMessage(second);
    expect(read2.ok && text(read2.payload)).toBe(m2.payload);
  });

  it("ends with the vectors' handshake hash on both sides and their transport ciphertexts", () => {
    const { initiator, responder } = vectorPair();
    responder.readMessage(initiator.writeMessage(hex(vector.messages[0]!.payload)));
    initiator.readMessage(responder.writeMessage(hex(vector.messages[1]!.payload)));
    const i = initiator.keys();
    const r = responder.keys();
    expect(text(i.handshakeHash)).toBe(vector.handshake_hash);
    expect(text(r.handshakeHash)).toBe(vector.handshake_hash);
    // Transport messages alternate, initiator first; each direction's nonce counts from 0.
    const nonces = { initiator: 0, responder: 0 };
    for (const [index, message] of vector.messages.slice(2).entries()) {
      const fromInitiator = index % 2 === 0;
      const key = fromInitiator ? i.send : r.send;
      const n = fromInitiator ? nonces.initiator++ : nonces.responder++;
      const sealed = encrypt(key, n, new Uint8Array(0), hex(message.payload));
      expect(text(sealed)).toBe(message.ciphertext);
      const opened = decrypt(fromInitiator ? r.receive : i.receive, n, new Uint8Array(0), sealed);
      expect(opened && text(opened)).toBe(message.payload);
    }
  });
});

describe("NoiseHandshake", () => {
  it("gives both ends crossed keys, the same hash and the same resume secret", () => {
    const { initiator, responder } = handshake();
    expect(responder.readMessage(initiator.writeMessage(Buffer.from("hello"))).ok).toBe(true);
    expect(initiator.readMessage(responder.writeMessage(Buffer.alloc(0))).ok).toBe(true);
    const i = initiator.keys();
    const r = responder.keys();
    expect(i.send).toEqual(r.receive);
    expect(i.receive).toEqual(r.send);
    expect(i.send).not.toEqual(i.receive);
    expect(i.handshakeHash).toEqual(r.handshakeHash);
    expect(i.resumeSecret).toEqual(r.resumeSecret);
    expect(i.resumeSecret).not.toEqual(i.send);
  });

  it("has forward secrecy: the same PSK and prologue give new keys every time", () => {
    const keys = () => {
      const { initiator, responder } = handshake();
      responder.readMessage(initiator.writeMessage(Buffer.alloc(0)));
      initiator.readMessage(responder.writeMessage(Buffer.alloc(0)));
      return initiator.keys();
    };
    const a = keys();
    const b = keys();
    expect(a.send).not.toEqual(b.send);
    expect(a.resumeSecret).not.toEqual(b.resumeSecret);
  });

  it("hands the payload writer the hash the reader reports as boundHash", () => {
    const { initiator, responder } = handshake();
    let written: Buffer | undefined;
    const message = initiator.writeMessage((h) => {
      written = Buffer.from(h);
      return Buffer.from("proof");
    });
    const read = responder.readMessage(message);
    expect(read.ok && read.boundHash).toEqual(written);
  });

  it("refuses message 1 under another PSK as auth_failed", () => {
    const initiator = new NoiseHandshake("initiator", Buffer.alloc(32, 1), Buffer.from("p"));
    const responder = new NoiseHandshake("responder", Buffer.alloc(32, 2), Buffer.from("p"));
    expect(responder.readMessage(initiator.writeMessage(Buffer.alloc(0)))).toEqual({
      ok: false,
      reason: "auth_failed",
    });
  });

  it("refuses message 1 recorded on another connection (another prologue: the CHALLENGE nonce)", () => {
    const psk = Buffer.alloc(32, 3);
    const recorded = new NoiseHandshake("initiator", psk, Buffer.from("nonce A")).writeMessage(
      Buffer.alloc(0),
    );
    const responder = new NoiseHandshake("responder", psk, Buffer.from("nonce B"));
    expect(responder.readMessage(recorded)).toEqual({ ok: false, reason: "auth_failed" });
  });

  it("refuses message 2 made under another PSK, so a relay without the key cannot pose as the exit", () => {
    const initiator = new NoiseHandshake("initiator", Buffer.alloc(32, 1), Buffer.from("p"));
    initiator.writeMessage(Buffer.alloc(0));
    // The impostor cannot read message 1; the best it can send is a message 2 of its own.
    const impostor = handshake(Buffer.alloc(32, 2), Buffer.from("p"));
    impostor.responder.readMessage(impostor.initiator.writeMessage(Buffer.alloc(0)));
    expect(initiator.readMessage(impostor.responder.writeMessage(Buffer.alloc(0)))).toEqual({
      ok: false,
      reason: "auth_failed",
    });
  });

  it("refuses any flipped bit of either message", () => {
    for (const which of [0, 1] as const) {
      for (const bit of [0, 8 * DH_BYTES + 3, 8 * DH_BYTES + 8 * 5 + 7]) {
        const { initiator, responder } = handshake();
        let m1 = initiator.writeMessage(Buffer.from("hello"));
        if (which === 0) m1 = flip(m1, bit);
        const read1 = responder.readMessage(m1);
        if (which === 0) {
          expect(read1.ok).toBe(false);
          continue;
        }
        const m2 = flip(responder.writeMessage(Buffer.from("welcome")), bit);
        expect(initiator.readMessage(m2).ok).toBe(false);
      }
    }
  });

  it("refuses a message too short for a key and a tag as bad_length", () => {
    const { responder } = handshake();
    expect(responder.readMessage(new Uint8Array(DH_BYTES + 15))).toEqual({ ok: false, reason: "bad_length" });
  });

  it("refuses a low-order ephemeral key (X25519's shared secret would be zero) as bad_key", () => {
    const { initiator, responder } = handshake();
    const message = initiator.writeMessage(Buffer.alloc(0));
    message.fill(0, 0, DH_BYTES); // the point 0 has order 4
    expect(responder.readMessage(message)).toEqual({ ok: false, reason: "bad_key" });
  });

  it("throws when steps are called out of order (a programming error, not input)", () => {
    const { initiator, responder } = handshake();
    expect(() => responder.writeMessage(Buffer.alloc(0))).toThrow(/writeMessage at read-1/);
    expect(() => initiator.readMessage(Buffer.alloc(64))).toThrow(/readMessage at write-1/);
    expect(() => initiator.keys()).toThrow(/keys at write-1/);
    responder.readMessage(new Uint8Array(3));
    expect(() => responder.writeMessage(Buffer.alloc(0))).toThrow(/writeMessage at read-1/);
  });

  it("is not spoiled by a refused message: the genuine one still reads after a forgery", () => {
    const { initiator, responder } = handshake();
    const forged = flip(initiator.writeMessage(Buffer.from("hello")), 8 * DH_BYTES + 1);
    const genuine = flip(forged, 8 * DH_BYTES + 1);
    expect(responder.readMessage(forged).ok).toBe(false);
    expect(responder.readMessage(genuine).ok).toBe(true);
    const reply = responder.writeMessage(Buffer.from("welcome"));
    expect(initiator.readMessage(flip(reply, 8 * DH_BYTES)).ok).toBe(false);
    expect(initiator.readMessage(reply).ok).toBe(true);
    expect(initiator.keys().send).toEqual(responder.keys().receive);
  });
});

function flip(message: Buffer, bit: number): Buffer {
  const out = Buffer.from(message);
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}
