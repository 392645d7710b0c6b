// The cipher functions against published vectors, besides cacophony's whole-handshake vectors in
// noise.test.ts: ChaCha20-Poly1305 with AD from RFC 8439 Appendix A.5 (its nonce 00000000 01..08
// is a Noise nonce: 32 zero bits, then the counter 0x0807060504030201 little-endian, which also
// takes the bigint path REKEY's maxnonce takes), and the spec's HKDF from RFC 5869 test case 3
// (zero-length salt and info: Noise's HKDF with an empty chaining key, T(1) | T(2) cut to 42
// bytes). Only the vector data is taken from the RFCs.
import { describe, expect, it } from "vitest";
import { decrypt, encrypt, hkdf, rekey, TAG_BYTES } from "./noise-cipher.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

const a5 = {
  key: hex("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0"),
  counter: 0x0807060504030201n,
  ad: hex("f33388860000000000004e91"),
  plaintext: hex(`
    496e7465726e65742d4472616674732061726520647261667420646f63756d656e74732076616c696420666f7220
    61206d6178696d756d206f6620736978206d6f6e74687320616e64206d617920626520757064617465642c207265
    706c616365642c206f72206f62736f6c65746564206279206f7468657220646f63756d656e747320617420616e79
    2074696d652e20497420697320696e617070726f70726961746520746f2075736520496e7465726e65742d447261
    667473206173207265666572656e6365206d6174657269616c206f7220746f2063697465207468656d206f746865
    72207468616e206173202fe2809c776f726b20696e2070726f67726573732e2fe2809d`),
  ciphertext: hex(`
    64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e382d
    26b0bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1
    ff37c8559797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9166c767b804d46a59b
    5216cde7a4e99040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a0d072b04b3564eea
    1b422273f548271a0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a1049e617d91d36
    1094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b02709b`),
  tag: hex("eead9d67890cbb22392336fea1851f38"),
};

describe("ChaCha20-Poly1305 under Noise's nonce (RFC 8439 A.5)", () => {
  it("decrypts the RFC's ciphertext and tag to its plaintext", () => {
    const opened = decrypt(a5.key, a5.counter, a5.ad, Buffer.concat([a5.ciphertext, a5.tag]));
    expect(opened).toEqual(a5.plaintext);
    expect(opened?.toString("utf8")).toMatch(/^Internet-Drafts are draft documents/);
  });

  it("encrypts the RFC's plaintext to exactly its ciphertext and tag", () => {
    expect(encrypt(a5.key, a5.counter, a5.ad, a5.plaintext)).toEqual(Buffer.concat([a5.ciphertext, a5.tag]));
  });

  it("refuses the vector with one bit changed in the AD, the counter or the tag", () => {
    const sealed = Buffer.concat([a5.ciphertext, a5.tag]);
    const ad = Buffer.from(a5.ad);
    ad[0]! ^= 1;
    expect(decrypt(a5.key, a5.counter, ad, sealed)).toBeUndefined();
    expect(decrypt(a5.key, a5.counter ^ 1n, a5.ad, sealed)).toBeUndefined();
    const tagged = Buffer.from(sealed);
    tagged[tagged.length - TAG_BYTES]! ^= 1;
    expect(decrypt(a5.key, a5.counter, a5.ad, tagged)).toBeUndefined();
  });

  it("takes a counter as a number and as a bigint alike", () => {
    const n = 2 ** 53 - 1;
    expect(encrypt(a5.key, n, a5.ad, a5.plaintext)).toEqual(encrypt(a5.key, BigInt(n), a5.ad, a5.plaintext));
  });
});

describe("Noise's HKDF is RFC 5869's with the chaining key as salt (RFC 5869 test case 3)", () => {
  it("gives the RFC's 42 bytes of output for an empty chaining key", () => {
    const [t1, t2] = hkdf(new Uint8Array(0), Buffer.alloc(22, 0x0b), 2) as [Buffer, Buffer];
    expect(Buffer.concat([t1, t2]).subarray(0, 42).toString("hex")).toBe(
      "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    );
  });

  it("gives three outputs whose first two are the two-output call's", () => {
    const ck = Buffer.alloc(32, 1);
    const ikm = Buffer.alloc(32, 2);
    expect(hkdf(ck, ikm, 3).slice(0, 2)).toEqual(hkdf(ck, ikm, 2));
  });
});

describe("REKEY (Noise spec 4.2; no published vector, so checked against its definition)", () => {
  it("is the first 32 bytes of ENCRYPT(k, 2^64 - 1, empty, 32 zero bytes), and one-way", () => {
    const k = Buffer.alloc(32, 0x5a);
    const next = rekey(k);
    expect(next).toEqual(
      encrypt(k, 0xffff_ffff_ffff_ffffn, new Uint8Array(0), new Uint8Array(32)).subarray(0, 32),
    );
    expect(next).toHaveLength(32);
    expect(next).not.toEqual(k);
    expect(rekey(next)).not.toEqual(next);
  });
});
