import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  authMessage,
  bytesToIpv4,
  dataFrameBytes,
  decodeFrame,
  encodeData,
  encodeFrame,
  fitReason,
  frameType,
  ipv4ToBytes,
  pingHop,
} from "./codec.js";
import { type ErrorCode, ErrorCodes, ProtocolError } from "./errors.js";
import { type Frame, FrameType, Hop, type WelcomeFrame } from "./frames.js";
import {
  HEADER_BYTES,
  MAC_BYTES,
  MAX_FRAME_BYTES,
  MAX_PACKET_BYTES,
  MAX_PACKETS_PER_FRAME,
  MAX_REASON_BYTES,
  NONCE_BYTES,
  RESUME_TOKEN_BYTES,
  SESSION_ID_BYTES,
} from "./limits.js";
import { fromText, toText } from "./text.js";

// ---------------------------------------------------------------------------------------------
// Helpers

/** Bytes from hex written for humans: spaces and "|" (field separators) are ignored. */
function hex(text: string): Uint8Array {
  const clean = text.replace(/[\s|]/g, "");
  if (!/^(?:[0-9a-f]{2})*$/i.test(clean)) throw new Error(`bad hex fixture: ${text}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `byte` repeated `n` times, as hex. */
function rep(byte: string, n: number): string {
  return byte.repeat(n);
}

function filled(byte: number, n: number): Uint8Array {
  return new Uint8Array(n).fill(byte);
}

/** The ProtocolError code `fn` throws (other exceptions fail the test), or undefined if it returns. */
function codeOf(fn: () => unknown): ErrorCode | undefined {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    expect(error.closeCode).toBe(ErrorCodes[error.code].close);
    return error.code;
  }
  return undefined;
}

/** A header for a payload of `payloadHex`, the payload length filled in from the hex. */
function frame(type: number, count: number, payloadHex: string, flags = 0): Uint8Array {
  const payload = hex(payloadHex);
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, type);
  view.setUint8(1, flags);
  view.setUint16(2, count);
  view.setUint32(4, payload.length);
  out.set(payload, HEADER_BYTES);
  return out;
}

const NONCE_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const NONCE = hex(NONCE_HEX);

// ---------------------------------------------------------------------------------------------
// Golden frames: the hex is written by hand from the layouts in codec.ts, so these check the layout
// itself, not only that the encoder and decoder agree with each other.

const golden: { name: string; frame: Frame; hex: string }[] = [
  {
    name: "CHALLENGE",
    frame: { type: FrameType.CHALLENGE, versionMin: 1, versionMax: 2, nonce: NONCE },
    // type flags count  payloadLength | vMin vMax | nonce
    hex: `01 00 0000 00000022 | 01 02 | ${NONCE_HEX}`,
  },
  {
    name: "HELLO without a resume token",
    frame: {
      type: FrameType.HELLO,
      versionMin: 1,
      versionMax: 1,
      capabilities: 0x01020304,
      clientId: "laptop",
      mac: filled(0xaa, MAC_BYTES),
    },
    // header | vMin vMax | capabilities | idLen "laptop" | mac | resumeLen
    hex: `02 00 0000 0000002e | 01 01 | 01020304 | 06 6c6170746f70 | ${rep("aa", 32)} | 00`,
  },
  {
    name: "HELLO with a resume token and a non-ASCII client id",
    frame: {
      type: FrameType.HELLO,
      versionMin: 1,
      versionMax: 3,
      capabilities: 0,
      clientId: "café",
      mac: filled(0xaa, MAC_BYTES),
      resumeToken: filled(0xbb, RESUME_TOKEN_BYTES),
    },
    // header | vMin vMax | capabilities | idLen "café" | mac | resumeLen token
    hex: `02 00 0000 0000004d | 01 03 | 00000000 | 05 636166c3a9 | ${rep("aa", 32)} | 20 ${rep("bb", 32)}`,
  },
  {
    name: "WELCOME of a resumed session with two DNS servers",
    frame: {
      type: FrameType.WELCOME,
      version: 1,
      sessionId: filled(0x11, SESSION_ID_BYTES),
      resumeToken: filled(0x22, RESUME_TOKEN_BYTES),
      address: "10.64.0.2",
      prefixLength: 24,
      mtu: 1400,
      dns: ["1.1.1.1", "9.9.9.9"],
      keepaliveSeconds: 25,
      resumed: true,
    },
    // header | version flags | sessionId | resumeToken | address | prefix | mtu | keepalive | dnsCount dns
    hex:
      `03 00 0000 00000044 | 01 01 | ${rep("11", 16)} | ${rep("22", 32)} | 0a400002 | 18 | 0578 | 0019 | ` +
      "02 01010101 09090909",
  },
  {
    name: "WELCOME of a new session without DNS servers",
    frame: {
      type: FrameType.WELCOME,
      version: 1,
      sessionId: filled(0x11, SESSION_ID_BYTES),
      resumeToken: filled(0x22, RESUME_TOKEN_BYTES),
      address: "192.168.255.254",
      prefixLength: 32,
      mtu: 65535,
      dns: [],
      keepaliveSeconds: 0,
      resumed: false,
    },
    hex: `03 00 0000 0000003c | 01 00 | ${rep("11", 16)} | ${rep("22", 32)} | c0a8fffe | 20 | ffff | 0000 | 00`,
  },
  {
    name: "DATA with two packets",
    frame: { type: FrameType.DATA, packets: [hex("deadbe"), hex("ef")] },
    // type flags count=2 payloadLength | len packet | len packet
    hex: "04 00 0002 00000008 | 0003 deadbe | 0001 ef",
  },
  {
    name: "PING end to end",
    frame: { type: FrameType.PING, hop: Hop.END_TO_END, id: 0x01020304, sentAt: 1.5 },
    // header | hop | id | sentAt (f64 1.5)
    hex: "05 00 0000 0000000d | 00 | 01020304 | 3ff8000000000000",
  },
  {
    name: "PONG on the exit leg",
    frame: { type: FrameType.PONG, hop: Hop.EXIT_LEG, id: 0xffffffff, sentAt: -2 },
    hex: "06 00 0000 0000000d | 02 | ffffffff | c000000000000000",
  },
  {
    name: "CLOSE with a reason",
    frame: { type: FrameType.CLOSE, code: 4413, reason: "too big" },
    // header | code | reason
    hex: "07 00 0000 00000009 | 113d | 746f6f20626967",
  },
  {
    name: "CLOSE without a reason",
    frame: { type: FrameType.CLOSE, code: 4001, reason: "" },
    hex: "07 00 0000 00000002 | 0fa1",
  },
  {
    name: "WELCOME of a dual-stack session with an IPv6 DNS server",
    frame: {
      type: FrameType.WELCOME,
      version: 1,
      sessionId: filled(0x11, SESSION_ID_BYTES),
      resumeToken: filled(0x22, RESUME_TOKEN_BYTES),
      address: "10.77.0.2",
      prefixLength: 32,
      mtu: 1400,
      dns: ["10.77.0.1"],
      keepaliveSeconds: 15,
      resumed: false,
      ipv6: { address: "fd77:1:2::2", prefixLength: 128, dns: ["fd77:1:2::1"] },
    },
    // ... | flags: bit 1 (IPv6) | ... | dnsCount dns | address6 | prefixLength6 | dns6Count dns6
    hex:
      `03 00 0000 00000062 | 01 02 | ${rep("11", 16)} | ${rep("22", 32)} | 0a4d0002 | 20 | 0578 | 000f | ` +
      "01 0a4d0001 | fd770001000200000000000000000002 | 80 | 01 fd770001000200000000000000000001",
  },
  {
    name: "WELCOME of a session that takes super-packets",
    frame: {
      type: FrameType.WELCOME,
      version: 2,
      sessionId: filled(0x11, SESSION_ID_BYTES),
      resumeToken: filled(0x22, RESUME_TOKEN_BYTES),
      address: "10.77.0.2",
      prefixLength: 32,
      mtu: 1400,
      dns: [],
      keepaliveSeconds: 25,
      resumed: false,
      superPackets: true,
    },
    hex: `03 00 0000 0000003c | 02 04 | ${rep("11", 16)} | ${rep("22", 32)} | 0a4d0002 | 20 | 0578 | 0019 | 00`,
  },
];

describe("golden frames", () => {
  it.each(golden)("encodes a $name to the bytes of its layout", ({ frame, hex: h }) => {
    expect(toHex(encodeFrame(frame))).toBe(toHex(hex(h)));
  });

  it.each(golden)("decodes the bytes of a $name to its value", ({ frame, hex: h }) => {
    expect(decodeFrame(hex(h))).toEqual(frame);
  });

  it.each(golden)("round-trips a $name through the text encoding", ({ frame }) => {
    expect(decodeFrame(fromText(toText(encodeFrame(frame))))).toEqual(frame);
  });

  it("covers every frame type of v1", () => {
    const covered = new Set(golden.map((g) => g.frame.type));
    expect([...covered].sort()).toEqual(Object.values(FrameType).sort());
  });
});

// ---------------------------------------------------------------------------------------------

describe("the header", () => {
  it("rejects a message over MAX_FRAME_BYTES with FRAME_TOO_LARGE before reading its header", () => {
    expect(codeOf(() => decodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1)))).toBe("FRAME_TOO_LARGE");
    // Even when the header is otherwise fine and the payload length agrees.
    const big = new Uint8Array(MAX_FRAME_BYTES + 1);
    big[0] = FrameType.DATA;
    new DataView(big.buffer).setUint32(4, big.length - HEADER_BYTES);
    expect(codeOf(() => decodeFrame(big))).toBe("FRAME_TOO_LARGE");
  });

  it.each([0, 1, 2, 3, 4, 5, 6, 7])("rejects a message of %i bytes as TRUNCATED", (n) => {
    expect(codeOf(() => decodeFrame(new Uint8Array(n)))).toBe("TRUNCATED");
  });

  it("rejects a payload length one longer than the message with LENGTH_MISMATCH", () => {
    expect(codeOf(() => decodeFrame(hex("05 00 0000 0000000e | 00 | 01020304 | 3ff8000000000000")))).toBe(
      "LENGTH_MISMATCH",
    );
  });

  it("rejects a payload length one shorter than the message with LENGTH_MISMATCH", () => {
    expect(codeOf(() => decodeFrame(hex("05 00 0000 0000000c | 00 | 01020304 | 3ff8000000000000")))).toBe(
      "LENGTH_MISMATCH",
    );
  });

  it("rejects a payload length of 2^32-1 with LENGTH_MISMATCH", () => {
    expect(codeOf(() => decodeFrame(hex("04 00 0001 ffffffff | 0001 ef")))).toBe("LENGTH_MISMATCH");
  });

  it("ignores unknown flag bits", () => {
    const withFlags = frame(FrameType.PING, 0, "01 00000007 0000000000000000", 0xff);
    expect(decodeFrame(withFlags)).toEqual({ type: FrameType.PING, hop: Hop.LAPTOP_LEG, id: 7, sentAt: 0 });
  });

  it("writes flags as 0", () => {
    for (const g of golden) expect(encodeFrame(g.frame)[1]).toBe(0);
  });

  it.each([
    FrameType.CHALLENGE,
    FrameType.HELLO,
    FrameType.WELCOME,
    FrameType.PING,
    FrameType.PONG,
    FrameType.CLOSE,
  ])("rejects a non-zero count on a frame of type %i with BAD_FIELD", (type) => {
    const g = golden.find((x) => x.frame.type === type)!;
    const bytes = hex(g.hex);
    bytes[3] = 1;
    expect(codeOf(() => decodeFrame(bytes))).toBe("BAD_FIELD");
  });

  it.each([0, 8, 9, 0x7f, 0xff])(
    "returns undefined for the unknown frame type %i so receivers skip it",
    (type) => {
      expect(decodeFrame(frame(type, 0, ""))).toBeUndefined();
      expect(decodeFrame(frame(type, 0xffff, "ffff ffff ffff", 0xff))).toBeUndefined();
    },
  );

  it("still checks the size of an unknown frame type", () => {
    const lying = frame(9, 0, "0102");
    lying[7] = 3;
    expect(codeOf(() => decodeFrame(lying))).toBe("LENGTH_MISMATCH");
  });
});

describe("frameType and pingHop", () => {
  it("frameType reads the type byte of any message with a whole header", () => {
    for (const g of golden) expect(frameType(hex(g.hex))).toBe(g.frame.type);
    expect(frameType(frame(0xee, 0, ""))).toBe(0xee);
  });

  it("frameType returns undefined for a message shorter than a header", () => {
    expect(frameType(new Uint8Array(0))).toBeUndefined();
    expect(frameType(hex("05 00 0000 0000"))).toBeUndefined();
  });

  it("pingHop reads the hop of a PING or PONG without decoding it", () => {
    expect(pingHop(hex("05 00 0000 0000000d | 00 | 01020304 | 3ff8000000000000"))).toBe(0);
    expect(pingHop(hex("06 00 0000 0000000d | 02 | ffffffff | c000000000000000"))).toBe(2);
    expect(pingHop(encodeFrame({ type: FrameType.PING, hop: Hop.LAPTOP_LEG, id: 1, sentAt: 0 }))).toBe(1);
  });

  it("pingHop returns undefined for other frames and for messages too short to hold a hop", () => {
    expect(pingHop(hex("04 00 0002 00000008 | 0003 deadbe | 0001 ef"))).toBeUndefined();
    expect(pingHop(hex("05 00 0000 0000000d"))).toBeUndefined();
    expect(pingHop(new Uint8Array(0))).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------

describe("CHALLENGE", () => {
  it("rejects a payload one byte short with LENGTH_MISMATCH", () => {
    expect(codeOf(() => decodeFrame(frame(1, 0, `01 01 ${NONCE_HEX.slice(2)}`)))).toBe("LENGTH_MISMATCH");
  });

  it("rejects a payload one byte long with LENGTH_MISMATCH", () => {
    expect(codeOf(() => decodeFrame(frame(1, 0, `01 01 ${NONCE_HEX} 00`)))).toBe("LENGTH_MISMATCH");
  });

  it("rejects versionMin above versionMax with BAD_FIELD", () => {
    expect(codeOf(() => decodeFrame(frame(1, 0, `02 01 ${NONCE_HEX}`)))).toBe("BAD_FIELD");
  });

  it("copies the nonce out of the message", () => {
    const bytes = hex(golden[0]!.hex);
    const decoded = decodeFrame(bytes) as { nonce: Uint8Array };
    bytes.fill(0);
    expect(toHex(decoded.nonce)).toBe(NONCE_HEX);
  });
});

describe("HELLO", () => {
  const mac = rep("aa", 32);

  it("rejects a client id length of 0 with BAD_FIELD", () => {
    expect(codeOf(() => decodeFrame(frame(2, 0, `01 01 00000000 00 ${mac} 00`)))).toBe("BAD_FIELD");
  });

  it("rejects a client id length over MAX_CLIENT_ID_BYTES with BAD_FIELD", () => {
    expect(codeOf(() => decodeFrame(frame(2, 0, `01 01 00000000 41 ${rep("61", 65)} ${mac} 00`)))).toBe(
      "BAD_FIELD",
    );
  });

  it("accepts a client id of exactly MAX_CLIENT_ID_BYTES", () => {
    const decoded = decodeFrame(frame(2, 0, `01 01 00000000 40 ${rep("61", 64)} ${mac} 00`));
    expect(decoded).toMatchObject({ clientId: "a".repeat(64) });
  });

  it.each([
    ["a lone continuation byte", "80"],
    ["0xff", "ff"],
    ["an encoded surrogate", "eda080"],
    ["an overlong slash", "c0af"],
    ["a cut two-byte character", "61c3"],
  ])("rejects a client id holding %s (invalid UTF-8) with BAD_FIELD", (_, idHex) => {
    const len = (idHex.length / 2).toString(16).padStart(2, "0");
    expect(codeOf(() => decodeFrame(frame(2, 0, `01 01 00000000 ${len} ${idHex} ${mac} 00`)))).toBe(
      "BAD_FIELD",
    );
  });

  it("keeps a leading byte order mark in the client id", () => {
    const decoded = decodeFrame(frame(2, 0, `01 01 00000000 04 efbbbf61 ${mac} 00`));
    expect(decoded).toMatchObject({ clientId: "\ufeffa" });
  });

  it.each([1, 16, 31, 33, 255])("rejects a resume token length of %i with BAD_FIELD", (n) => {
    const len = n.toString(16).padStart(2, "0");
    expect(codeOf(() => decodeFrame(frame(2, 0, `01 01 00000000 01 61 ${mac} ${len} ${rep("bb", n)}`)))).toBe(
      "BAD_FIELD",
    );
  });

  it("rejects versionMin above versionMax with BAD_FIELD", () => {
    expect(codeOf(() => decodeFrame(frame(2, 0, `03 02 00000000 01 61 ${mac} 00`)))).toBe("BAD_FIELD");
  });

  it("rejects a payload cut inside the mac as TRUNCATED", () => {
    expect(codeOf(() => decodeFrame(frame(2, 0, `01 01 00000000 01 61 ${rep("aa", 31)}`)))).toBe("TRUNCATED");
  });

  it("rejects a client id longer than the rest of the payload as TRUNCATED", () => {
    expect(codeOf(() => decodeFrame(frame(2, 0, "01 01 00000000 10 6162")))).toBe("TRUNCATED");
  });

  it("rejects a payload cut before the resume length as TRUNCATED", () => {
    expect(codeOf(() => decodeFrame(frame(2, 0, `01 01 00000000 01 61 ${mac}`)))).toBe("TRUNCATED");
  });

  it("rejects a resume token cut short as TRUNCATED", () => {
    expect(codeOf(() => decodeFrame(frame(2, 0, `01 01 00000000 01 61 ${mac} 20 ${rep("bb", 31)}`)))).toBe(
      "TRUNCATED",
    );
  });

  it("rejects a byte after the last field with LENGTH_MISMATCH", () => {
    expect(codeOf(() => decodeFrame(frame(2, 0, `01 01 00000000 01 61 ${mac} 00 00`)))).toBe(
      "LENGTH_MISMATCH",
    );
  });
});

describe("authMessage", () => {
  it('is ASCII "tether-v1-hello", then the nonce, then the client id in UTF-8', () => {
    const expected = hex(`746574686572 2d 7631 2d 68656c6c6f | ${NONCE_HEX} | 636166c3a9`);
    expect(toHex(authMessage(NONCE, "café"))).toBe(toHex(expected));
  });

  it("rejects a nonce of the wrong size with BAD_FIELD", () => {
    expect(codeOf(() => authMessage(new Uint8Array(NONCE_BYTES - 1), "laptop"))).toBe("BAD_FIELD");
  });

  it("rejects a client id the HELLO could not carry with BAD_FIELD", () => {
    expect(codeOf(() => authMessage(NONCE, ""))).toBe("BAD_FIELD");
    expect(codeOf(() => authMessage(NONCE, "a".repeat(65)))).toBe("BAD_FIELD");
  });
});

describe("WELCOME", () => {
  const fixed = (prefix: string, mtu: string, dns: string) =>
    `01 00 ${rep("11", 16)} ${rep("22", 32)} 0a400002 ${prefix} ${mtu} 0019 ${dns}`;

  it.each([
    ["0", "00"],
    ["33", "21"],
    ["255", "ff"],
  ])("rejects a prefix length of %s with BAD_FIELD", (_, prefix) => {
    expect(codeOf(() => decodeFrame(frame(3, 0, fixed(prefix, "0578", "00"))))).toBe("BAD_FIELD");
  });

  it("rejects an MTU of 575 with BAD_FIELD and accepts 576", () => {
    expect(codeOf(() => decodeFrame(frame(3, 0, fixed("18", "023f", "00"))))).toBe("BAD_FIELD");
    expect(decodeFrame(frame(3, 0, fixed("18", "0240", "00")))).toMatchObject({ mtu: 576 });
  });

  it("rejects more than MAX_DNS_SERVERS DNS servers with BAD_FIELD", () => {
    expect(codeOf(() => decodeFrame(frame(3, 0, fixed("18", "0578", `05 ${rep("01010101", 5)}`))))).toBe(
      "BAD_FIELD",
    );
  });

  it("rejects a DNS count larger than the addresses that follow as TRUNCATED", () => {
    expect(codeOf(() => decodeFrame(frame(3, 0, fixed("18", "0578", "02 01010101"))))).toBe("TRUNCATED");
  });

  it("rejects a payload cut inside the fixed fields as TRUNCATED", () => {
    expect(codeOf(() => decodeFrame(frame(3, 0, `01 00 ${rep("11", 16)} ${rep("22", 10)}`)))).toBe(
      "TRUNCATED",
    );
  });

  it("rejects a byte after the last DNS server with LENGTH_MISMATCH", () => {
    expect(codeOf(() => decodeFrame(frame(3, 0, fixed("18", "0578", "01 01010101 00"))))).toBe(
      "LENGTH_MISMATCH",
    );
  });

  it("reads bit 0 of the flags as resumed, bit 1 as the IPv6 block, and ignores the others", () => {
    const flags = (f: string) => `01 ${f} ${rep("11", 16)} ${rep("22", 32)} 0a400002 18 0578 0019 00`;
    expect(decodeFrame(frame(3, 0, flags("fc")))).toMatchObject({ resumed: false });
    expect(decodeFrame(frame(3, 0, flags("fd")))).not.toHaveProperty("ipv6");
    expect(codeOf(() => decodeFrame(frame(3, 0, flags("02"))))).toBe("TRUNCATED"); // bit 1, no block
  });

  describe("its IPv6 block", () => {
    const withIpv6 = (mtu: string, block: string) =>
      `01 02 ${rep("11", 16)} ${rep("22", 32)} 0a4d0002 20 ${mtu} 000f 00 ${block}`;
    const address6 = "fd770001000200000000000000000002";
    const ipv4Only = golden[3]!.frame as WelcomeFrame;

    it("is read when flags bit 1 says it follows the IPv4 DNS servers", () => {
      expect(decodeFrame(frame(3, 0, withIpv6("0578", `${address6} 40 00`)))).toMatchObject({
        ipv6: { address: "fd77:1:2::2", prefixLength: 64, dns: [] },
      });
    });

    it("rejects an MTU under 1280 (IPv6's minimum link MTU) with BAD_FIELD, and accepts 1280", () => {
      expect(codeOf(() => decodeFrame(frame(3, 0, withIpv6("04ff", `${address6} 80 00`))))).toBe("BAD_FIELD");
      expect(decodeFrame(frame(3, 0, withIpv6("0500", `${address6} 80 00`)))).toMatchObject({ mtu: 1280 });
      expect(
        codeOf(() =>
          encodeFrame({ ...ipv4Only, mtu: 1279, ipv6: { address: "fd77::2", prefixLength: 128, dns: [] } }),
        ),
      ).toBe("BAD_FIELD");
    });

    it.each([
      ["0", "00"],
      ["129", "81"],
    ])("rejects an IPv6 prefix length of %s with BAD_FIELD", (_, prefix) => {
      expect(codeOf(() => decodeFrame(frame(3, 0, withIpv6("0578", `${address6} ${prefix} 00`))))).toBe(
        "BAD_FIELD",
      );
    });

    it("rejects more than MAX_DNS_SERVERS IPv6 DNS servers with BAD_FIELD", () => {
      const block = `${address6} 80 05 ${rep(address6, 5)}`;
      expect(codeOf(() => decodeFrame(frame(3, 0, withIpv6("0578", block))))).toBe("BAD_FIELD");
    });

    it("rejects a block cut short as TRUNCATED and a byte after it as LENGTH_MISMATCH", () => {
      expect(codeOf(() => decodeFrame(frame(3, 0, withIpv6("0578", address6.slice(0, 30)))))).toBe(
        "TRUNCATED",
      );
      expect(
        codeOf(() => decodeFrame(frame(3, 0, withIpv6("0578", `${address6} 80 01 ${address6.slice(2)}`)))),
      ).toBe("TRUNCATED");
      expect(codeOf(() => decodeFrame(frame(3, 0, withIpv6("0578", `${address6} 80 00 00`))))).toBe(
        "LENGTH_MISMATCH",
      );
    });

    it("is not sent with an address that is not IPv6 (BAD_FIELD)", () => {
      for (const address of ["10.77.0.2", "fd77::g", ""]) {
        expect(
          codeOf(() => encodeFrame({ ...ipv4Only, ipv6: { address, prefixLength: 128, dns: [] } })),
          address,
        ).toBe("BAD_FIELD");
      }
      expect(
        codeOf(() =>
          encodeFrame({ ...ipv4Only, ipv6: { address: "fd77::2", prefixLength: 128, dns: ["1.1.1.1"] } }),
        ),
      ).toBe("BAD_FIELD");
    });
  });
});

describe("DATA", () => {
  it("rejects a count of 0 with BAD_FIELD", () => {
    expect(codeOf(() => decodeFrame(frame(4, 0, "")))).toBe("BAD_FIELD");
  });

  it("rejects a count over MAX_PACKETS_PER_FRAME with TOO_MANY_PACKETS before walking the packets", () => {
    // The payload holds a single packet: the count alone must decide.
    expect(codeOf(() => decodeFrame(frame(4, MAX_PACKETS_PER_FRAME + 1, "0001 ef")))).toBe(
      "TOO_MANY_PACKETS",
    );
    expect(codeOf(() => decodeFrame(frame(4, 0xffff, "")))).toBe("TOO_MANY_PACKETS");
  });

  it("accepts exactly MAX_PACKETS_PER_FRAME packets", () => {
    const decoded = decodeFrame(frame(4, MAX_PACKETS_PER_FRAME, rep("0001ef", MAX_PACKETS_PER_FRAME)));
    expect((decoded as { packets: Uint8Array[] }).packets).toHaveLength(MAX_PACKETS_PER_FRAME);
  });

  it("rejects a packet length of 0 with BAD_FIELD", () => {
    expect(codeOf(() => decodeFrame(frame(4, 2, "0001 ef 0000")))).toBe("BAD_FIELD");
  });

  it("rejects a packet length running past the end as TRUNCATED", () => {
    expect(codeOf(() => decodeFrame(frame(4, 1, "0004 deadbe")))).toBe("TRUNCATED");
    expect(codeOf(() => decodeFrame(frame(4, 1, "ffff deadbe")))).toBe("TRUNCATED");
  });

  it("rejects a count larger than the packets present as TRUNCATED", () => {
    expect(codeOf(() => decodeFrame(frame(4, 3, "0003 deadbe 0001 ef")))).toBe("TRUNCATED");
  });

  it("rejects a length prefix cut in half as TRUNCATED", () => {
    expect(codeOf(() => decodeFrame(frame(4, 2, "0001 ef 00")))).toBe("TRUNCATED");
  });

  it("rejects a packet length shorter than the packet with LENGTH_MISMATCH", () => {
    expect(codeOf(() => decodeFrame(frame(4, 1, "0002 deadbe")))).toBe("LENGTH_MISMATCH");
  });

  it("rejects bytes after the counted packets with LENGTH_MISMATCH", () => {
    expect(codeOf(() => decodeFrame(frame(4, 1, "0003 deadbe 0001 ef")))).toBe("LENGTH_MISMATCH");
  });

  it("decodes packets as views into the message, without copying", () => {
    const message = hex("04 00 0002 00000008 | 0003 deadbe | 0001 ef");
    const { packets } = decodeFrame(message) as { packets: Uint8Array[] };
    expect(packets[0]!.buffer).toBe(message.buffer);
    expect(packets[0]!.byteOffset).toBe(10);
    expect(packets[1]!.byteOffset).toBe(15);
    message[10] = 0x01;
    expect(packets[0]![0]).toBe(0x01);
  });

  it("decodes a message that is itself a view at an offset into a larger buffer", () => {
    const backing = new Uint8Array(100).fill(0x77);
    const message = hex("04 00 0001 00000003 | 0001 ef");
    backing.set(message, 40);
    const view = backing.subarray(40, 40 + message.length);
    expect(decodeFrame(view)).toEqual({ type: FrameType.DATA, packets: [hex("ef")] });
  });

  it("encodes through encodeData to the same bytes as encodeFrame", () => {
    const packets = [hex("deadbe"), hex("ef")];
    expect(toHex(encodeData(packets))).toBe(toHex(encodeFrame({ type: FrameType.DATA, packets })));
  });

  it("encodes and decodes a frame of exactly MAX_FRAME_BYTES", () => {
    // 7 full packets and one that fills the frame to the byte.
    const packets = [...Array.from({ length: 7 }, () => filled(1, MAX_PACKET_BYTES)), filled(2, 65_519)];
    const encoded = encodeData(packets);
    expect(encoded.length).toBe(MAX_FRAME_BYTES);
    const decoded = decodeFrame(encoded) as { type: number; packets: Uint8Array[] };
    expect(decoded.type).toBe(FrameType.DATA);
    // Compared as hex: deep equality over half a megabyte of elements is needlessly slow.
    expect(decoded.packets.map(toHex)).toEqual(packets.map(toHex));
  });

  it("encodeData rejects a frame one byte over MAX_FRAME_BYTES with FRAME_TOO_LARGE", () => {
    const packets = [...Array.from({ length: 7 }, () => filled(1, MAX_PACKET_BYTES)), filled(2, 65_520)];
    expect(codeOf(() => encodeData(packets))).toBe("FRAME_TOO_LARGE");
  });

  it("encodeData rejects a packet over MAX_PACKET_BYTES with PACKET_TOO_LARGE", () => {
    expect(codeOf(() => encodeData([new Uint8Array(MAX_PACKET_BYTES + 1)]))).toBe("PACKET_TOO_LARGE");
  });

  it("encodeData rejects more than MAX_PACKETS_PER_FRAME packets with TOO_MANY_PACKETS", () => {
    const packets = Array.from({ length: MAX_PACKETS_PER_FRAME + 1 }, () => filled(1, 1));
    expect(codeOf(() => encodeData(packets))).toBe("TOO_MANY_PACKETS");
  });

  it("encodeData rejects no packets and empty packets with BAD_FIELD", () => {
    expect(codeOf(() => encodeData([]))).toBe("BAD_FIELD");
    expect(codeOf(() => encodeData([hex("ef"), new Uint8Array(0)]))).toBe("BAD_FIELD");
  });

  it("dataFrameBytes is the header plus a 2-byte length per packet plus the packet bytes", () => {
    expect(dataFrameBytes(4, 2)).toBe(16);
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 40 }),
        (ps) => {
          const bytes = ps.reduce((sum, p) => sum + p.length, 0);
          expect(encodeData(ps).length).toBe(dataFrameBytes(bytes, ps.length));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("PING and PONG", () => {
  it.each([FrameType.PING, FrameType.PONG])(
    "rejects a hop of 3 in a frame of type %i with BAD_FIELD",
    (type) => {
      expect(codeOf(() => decodeFrame(frame(type, 0, "03 00000001 0000000000000000")))).toBe("BAD_FIELD");
    },
  );

  it.each([FrameType.PING, FrameType.PONG])(
    "rejects a payload of the wrong size in type %i with LENGTH_MISMATCH",
    (type) => {
      expect(codeOf(() => decodeFrame(frame(type, 0, "00 00000001 00000000000000")))).toBe("LENGTH_MISMATCH");
      expect(codeOf(() => decodeFrame(frame(type, 0, "00 00000001 000000000000000000")))).toBe(
        "LENGTH_MISMATCH",
      );
      expect(codeOf(() => decodeFrame(frame(type, 0, "")))).toBe("LENGTH_MISMATCH");
    },
  );

  it("carries sentAt bit for bit, including -0, infinities and NaN", () => {
    for (const sentAt of [
      -0,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.NaN,
      5e-324,
      1.7e12,
    ]) {
      const decoded = decodeFrame(encodeFrame({ type: FrameType.PING, hop: Hop.END_TO_END, id: 0, sentAt }));
      expect(Object.is((decoded as { sentAt: number }).sentAt, sentAt)).toBe(true);
    }
  });
});

describe("CLOSE", () => {
  it("rejects a payload too short to hold the code as TRUNCATED", () => {
    expect(codeOf(() => decodeFrame(frame(7, 0, "11")))).toBe("TRUNCATED");
    expect(codeOf(() => decodeFrame(frame(7, 0, "")))).toBe("TRUNCATED");
  });

  it("accepts a reason of exactly MAX_REASON_BYTES", () => {
    const decoded = decodeFrame(frame(7, 0, `113d ${rep("61", MAX_REASON_BYTES)}`));
    expect(decoded).toMatchObject({ reason: "a".repeat(MAX_REASON_BYTES) });
  });

  it("rejects a reason over MAX_REASON_BYTES with BAD_FIELD", () => {
    expect(codeOf(() => decodeFrame(frame(7, 0, `113d ${rep("61", MAX_REASON_BYTES + 1)}`)))).toBe(
      "BAD_FIELD",
    );
  });

  it("rejects a reason that is not valid UTF-8 with BAD_FIELD", () => {
    expect(codeOf(() => decodeFrame(frame(7, 0, "113d 61 ff 62")))).toBe("BAD_FIELD");
  });

  it("fitReason leaves a short reason alone", () => {
    expect(fitReason("bye")).toBe("bye");
  });

  it("fitReason cuts a long reason to MAX_REASON_BYTES at a character boundary", () => {
    const long = `${"a".repeat(MAX_REASON_BYTES - 1)}é and more`;
    const fitted = fitReason(long);
    expect(fitted).toBe("a".repeat(MAX_REASON_BYTES - 1));
    expect(decodeFrame(encodeFrame({ type: FrameType.CLOSE, code: 1, reason: fitted }))).toMatchObject({
      reason: fitted,
    });
  });

  it("fitReason replaces lone surrogates so the reason can be encoded", () => {
    expect(fitReason("a\ud800b")).toBe("a\ufffdb");
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", maxLength: 400 }),
        fc.constantFrom("\ud800", "\udc00"),
        (s, lone) => {
          const fitted = fitReason(lone + s + lone);
          expect(
            codeOf(() => encodeFrame({ type: FrameType.CLOSE, code: 0, reason: fitted })),
          ).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe("IPv4 addresses", () => {
  it("converts between dotted strings and 4 bytes", () => {
    expect(toHex(ipv4ToBytes("10.64.0.2"))).toBe("0a400002");
    expect(toHex(ipv4ToBytes("0.0.0.0"))).toBe("00000000");
    expect(toHex(ipv4ToBytes("255.255.255.255"))).toBe("ffffffff");
    expect(bytesToIpv4(hex("c0a80001"))).toBe("192.168.0.1");
    expect(bytesToIpv4(hex("ff ff 0a400002 ff"), 2)).toBe("10.64.0.2");
  });

  it.each([
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.0.0.1",
    "01.2.3.4",
    "1.2.3.-4",
    "1..3.4",
    "a.b.c.d",
    " 1.2.3.4",
    "1.2.3.4 ",
    "1e2.0.0.1",
    "0x1.0.0.1",
    "1.2.3.4\n",
    "::1",
  ])("ipv4ToBytes rejects %j with BAD_FIELD", (s) => {
    expect(codeOf(() => ipv4ToBytes(s))).toBe("BAD_FIELD");
  });

  it("bytesToIpv4 rejects an offset without 4 bytes after it as TRUNCATED", () => {
    expect(codeOf(() => bytesToIpv4(hex("010203")))).toBe("TRUNCATED");
    expect(codeOf(() => bytesToIpv4(hex("01020304"), 1))).toBe("TRUNCATED");
  });

  it("round-trips every address", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (b) => {
        expect(ipv4ToBytes(bytesToIpv4(b))).toEqual(b);
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Encoder checks: encodeFrame refuses what decodeFrame would refuse, so nothing it sends is rejected.

const challenge = golden[0]!.frame;
const hello = golden[1]!.frame;
const welcome = golden[3]!.frame;
const ping = golden[6]!.frame;
const close = golden[8]!.frame;

const badFrames: { name: string; frame: unknown; code: ErrorCode }[] = [
  {
    name: "a CHALLENGE with a short nonce",
    frame: { ...challenge, nonce: new Uint8Array(31) },
    code: "BAD_FIELD",
  },
  {
    name: "a CHALLENGE with versionMin > versionMax",
    frame: { ...challenge, versionMin: 3 },
    code: "BAD_FIELD",
  },
  { name: "a CHALLENGE with version 256", frame: { ...challenge, versionMax: 256 }, code: "BAD_FIELD" },
  { name: "a HELLO with an empty client id", frame: { ...hello, clientId: "" }, code: "BAD_FIELD" },
  {
    name: "a HELLO with a 65-byte client id",
    frame: { ...hello, clientId: `${"é".repeat(32)}a` },
    code: "BAD_FIELD",
  },
  { name: "a HELLO with a lone surrogate", frame: { ...hello, clientId: "a\ud800" }, code: "BAD_FIELD" },
  { name: "a HELLO with a short mac", frame: { ...hello, mac: new Uint8Array(31) }, code: "BAD_FIELD" },
  {
    name: "a HELLO with a short resume token",
    frame: { ...hello, resumeToken: new Uint8Array(31) },
    code: "BAD_FIELD",
  },
  { name: "a HELLO with capabilities -1", frame: { ...hello, capabilities: -1 }, code: "BAD_FIELD" },
  { name: "a HELLO with capabilities 2^32", frame: { ...hello, capabilities: 2 ** 32 }, code: "BAD_FIELD" },
  {
    name: "a WELCOME with a short session id",
    frame: { ...welcome, sessionId: new Uint8Array(15) },
    code: "BAD_FIELD",
  },
  { name: "a WELCOME with a bad address", frame: { ...welcome, address: "10.0.0" }, code: "BAD_FIELD" },
  { name: "a WELCOME with prefix length 0", frame: { ...welcome, prefixLength: 0 }, code: "BAD_FIELD" },
  { name: "a WELCOME with prefix length 33", frame: { ...welcome, prefixLength: 33 }, code: "BAD_FIELD" },
  { name: "a WELCOME with MTU 575", frame: { ...welcome, mtu: 575 }, code: "BAD_FIELD" },
  { name: "a WELCOME with MTU 65536", frame: { ...welcome, mtu: 65_536 }, code: "BAD_FIELD" },
  {
    name: "a WELCOME with keepalive 65536",
    frame: { ...welcome, keepaliveSeconds: 65_536 },
    code: "BAD_FIELD",
  },
  {
    name: "a WELCOME with 5 DNS servers",
    frame: { ...welcome, dns: Array(5).fill("1.1.1.1") },
    code: "BAD_FIELD",
  },
  { name: "a WELCOME with a bad DNS server", frame: { ...welcome, dns: ["1.1.1.256"] }, code: "BAD_FIELD" },
  { name: "a PING with hop 3", frame: { ...ping, hop: 3 }, code: "BAD_FIELD" },
  { name: "a PING with id 2^32", frame: { ...ping, id: 2 ** 32 }, code: "BAD_FIELD" },
  { name: "a PING with a fractional id", frame: { ...ping, id: 1.5 }, code: "BAD_FIELD" },
  { name: "a CLOSE with code 65536", frame: { ...close, code: 65_536 }, code: "BAD_FIELD" },
  { name: "a CLOSE with a 257-byte reason", frame: { ...close, reason: "a".repeat(257) }, code: "BAD_FIELD" },
  { name: "a CLOSE with a lone surrogate", frame: { ...close, reason: "\udfff" }, code: "BAD_FIELD" },
  { name: "a DATA frame with no packets", frame: { type: FrameType.DATA, packets: [] }, code: "BAD_FIELD" },
  { name: "a frame of unknown type", frame: { type: 9 }, code: "BAD_FIELD" },
];

describe("encodeFrame", () => {
  it.each(badFrames)("rejects $name with $code", ({ frame: f, code }) => {
    expect(codeOf(() => encodeFrame(f as Frame))).toBe(code);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const bytesOf = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const versions = fc.tuple(u8, u8).map(([a, b]): [number, number] => (a <= b ? [a, b] : [b, a]));
const ipv4 = bytesOf(4).map((b) => bytesToIpv4(b));
const hop = fc.constantFrom(Hop.END_TO_END, Hop.LAPTOP_LEG, Hop.EXIT_LEG);

const arbitraryFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc
    .record({
      type: fc.constant(FrameType.CHALLENGE),
      versions,
      nonce: bytesOf(NONCE_BYTES),
    })
    .map(({ versions: [versionMin, versionMax], ...rest }) => ({ ...rest, versionMin, versionMax })),
  fc
    .record(
      {
        type: fc.constant(FrameType.HELLO),
        versions,
        capabilities: u32,
        // 16 code points of at most 4 UTF-8 bytes each: always within MAX_CLIENT_ID_BYTES.
        clientId: fc.string({ unit: "binary", minLength: 1, maxLength: 16 }),
        mac: bytesOf(MAC_BYTES),
        resumeToken: bytesOf(RESUME_TOKEN_BYTES),
      },
      { requiredKeys: ["type", "versions", "capabilities", "clientId", "mac"] },
    )
    .map(({ versions: [versionMin, versionMax], ...rest }) => ({ ...rest, versionMin, versionMax })),
  fc.record({
    type: fc.constant(FrameType.WELCOME),
    version: u8,
    sessionId: bytesOf(SESSION_ID_BYTES),
    resumeToken: bytesOf(RESUME_TOKEN_BYTES),
    address: ipv4,
    prefixLength: fc.integer({ min: 1, max: 32 }),
    mtu: fc.integer({ min: 576, max: 0xffff }),
    dns: fc.array(ipv4, { maxLength: 4 }),
    keepaliveSeconds: u16,
    resumed: fc.boolean(),
  }),
  fc.record({
    type: fc.constant(FrameType.DATA),
    packets: fc.array(fc.uint8Array({ minLength: 1, maxLength: 1500 }), { minLength: 1, maxLength: 20 }),
  }),
  fc.record({ type: fc.constantFrom(FrameType.PING, FrameType.PONG), hop, id: u32, sentAt: fc.double() }),
  fc.record({
    type: fc.constant(FrameType.CLOSE),
    code: u16,
    // 64 code points of at most 4 bytes: always within MAX_REASON_BYTES.
    reason: fc.string({ unit: "binary", maxLength: 64 }),
  }),
) as fc.Arbitrary<Frame>;

/** decodeFrame's contract: a Frame of a known type, undefined, or a ProtocolError; never anything else. */
function decodesOrThrowsProtocolError(message: Uint8Array): Frame | undefined {
  let decoded: Frame | undefined;
  try {
    decoded = decodeFrame(message);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    expect(Object.keys(ErrorCodes)).toContain(error.code);
    return undefined;
  }
  if (decoded !== undefined) {
    expect(Object.values(FrameType)).toContain(decoded.type);
    // Whatever decodes is canonical: encoding it again decodes to the same value.
    expect(decodeFrame(encodeFrame(decoded))).toEqual(decoded);
  }
  return decoded;
}

/** Sets the header's payload length to what the message holds, so mutations reach the payload decoders. */
function fixLength(message: Uint8Array): Uint8Array {
  if (message.length >= HEADER_BYTES) {
    new DataView(message.buffer, message.byteOffset).setUint32(4, message.length - HEADER_BYTES);
  }
  return message;
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), byte: u8 }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("extend" as const), tail: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant("count" as const), count: u16 }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(valid: Uint8Array, ms: Mutation[], keepLength: boolean): Uint8Array {
  let bytes = valid.slice();
  for (const m of ms) {
    if (m.kind === "flip") {
      if (bytes.length > 0) bytes[m.at % bytes.length] = m.byte;
    } else if (m.kind === "truncate") {
      bytes = bytes.slice(0, m.at % (bytes.length + 1));
    } else if (m.kind === "extend") {
      const longer = new Uint8Array(bytes.length + m.tail.length);
      longer.set(bytes);
      longer.set(m.tail, bytes.length);
      bytes = longer;
    } else if (bytes.length >= 4) {
      new DataView(bytes.buffer).setUint16(2, m.count);
    }
  }
  return keepLength ? fixLength(bytes) : bytes;
}

describe("properties", () => {
  it("round-trips arbitrary frames through the binary encoding", () => {
    fc.assert(
      fc.property(arbitraryFrame, (f) => {
        expect(decodeFrame(encodeFrame(f))).toEqual(f);
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips arbitrary frames through the text encoding", () => {
    fc.assert(
      fc.property(arbitraryFrame, (f) => {
        const text = toText(encodeFrame(f));
        expect(text).toMatch(/^[A-Za-z0-9+/]*={0,2}$/);
        expect(decodeFrame(fromText(text))).toEqual(f);
      }),
      { numRuns: 2000 },
    );
  });

  it("decodeFrame returns a frame or undefined, or throws a ProtocolError, for arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => void decodesOrThrowsProtocolError(bytes)),
      {
        numRuns: 2000,
      },
    );
  });

  it("decodeFrame returns a frame or undefined, or throws a ProtocolError, for any payload behind a sane header", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 9 }),
        fc.oneof(fc.constant(0), fc.constant(1), u16),
        u8,
        fc.uint8Array({ maxLength: 300 }),
        (type, count, flags, payload) => {
          const message = new Uint8Array(HEADER_BYTES + payload.length);
          message.set([type, flags, count >>> 8, count & 0xff]);
          message.set(payload, HEADER_BYTES);
          decodesOrThrowsProtocolError(fixLength(message));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("decodeFrame returns a frame or undefined, or throws a ProtocolError, for mutated and truncated valid frames", () => {
    fc.assert(
      fc.property(
        arbitraryFrame,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (f, ms, keepLength) => {
          decodesOrThrowsProtocolError(mutate(encodeFrame(f), ms, keepLength));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("decodeFrame accepts any DATA frame encodeData builds, with every packet intact", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 2000 }), {
          minLength: 1,
          maxLength: MAX_PACKETS_PER_FRAME,
        }),
        (packets) => {
          expect(decodeFrame(encodeData(packets))).toEqual({ type: FrameType.DATA, packets });
        },
      ),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe("docs/PROTOCOL.md", () => {
  it("lists every error code with its close code", () => {
    const doc = readFileSync(new URL("../docs/PROTOCOL.md", import.meta.url), "utf8");
    for (const [code, { close }] of Object.entries(ErrorCodes)) {
      expect(doc).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${close}\\s*\\|`));
    }
  });
});
