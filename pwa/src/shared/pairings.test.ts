// The laptops this phone remembers: the link's pairing is stored, several are kept, one is chosen.
import { describe, expect, it } from "vitest";
import { laptopPageUrl, PairingError, parsePairing, parsePairingLink } from "./pairing.js";
import {
  chosenPairing,
  MAX_PAIRINGS,
  pairingLabel,
  rememberPairing,
  type StoredPairing,
} from "./pairings.js";

const EXIT = "wss://exit.example:8443/tunnel";
const pairing = (host: string, fingerprint = "fp-1") => ({
  laptopUrl: `wss://${host}:7443`,
  secret: `secret-of-${host}`,
  fingerprint,
  encoding: "binary" as const,
});

describe("pairing links", () => {
  it("reads a whole pasted link as well as a bare fragment", () => {
    const link = "https://exit.example:8443/#v=1&laptop=wss%3A%2F%2F192.168.43.2%3A7443&secret=abc&fp=XYZ%3D";
    expect(parsePairingLink(link)).toEqual({
      laptopUrl: "wss://192.168.43.2:7443",
      secret: "abc",
      fingerprint: "XYZ=",
      encoding: "binary",
    });
    expect(parsePairing(link.slice(link.indexOf("#")))).toEqual(parsePairingLink(link));
  });

  it("refuses text that is not a pairing link, with a sentence", () => {
    expect(() => parsePairingLink("https://exit.example:8443/")).toThrow(PairingError);
    expect(() => parsePairingLink("#laptop=wss://x:1")).toThrow(/incomplete/);
    expect(() => parsePairingLink("#laptop=https://x:1&secret=s")).toThrow(/wss/);
  });

  it("finds the laptop's trust page from its relay address", () => {
    expect(laptopPageUrl("wss://192.168.43.2:7443")).toBe("https://192.168.43.2:7443/");
  });
});

describe("the pairing list", () => {
  it("remembers a new laptop first, and chooses it", () => {
    const { list, stored } = rememberPairing([], pairing("192.168.43.2"), EXIT, 1_000);
    expect(list).toEqual([stored]);
    expect(stored).toMatchObject({
      exitUrl: EXIT,
      addedAt: 1_000,
      lastUsedAt: 1_000,
      connectedAt: undefined,
    });
    expect(chosenPairing(list, stored.id)).toBe(stored);
  });

  it("updates a laptop paired again, keeping when it was added and that it connected", () => {
    const first = rememberPairing([], pairing("192.168.43.2"), EXIT, 1_000);
    const connected: StoredPairing = { ...first.stored, connectedAt: 1_500 };
    const again = rememberPairing([connected], { ...pairing("192.168.43.2"), secret: "new" }, EXIT, 2_000);
    expect(again.list).toHaveLength(1);
    expect(again.stored).toMatchObject({
      secret: "new",
      addedAt: 1_000,
      lastUsedAt: 2_000,
      connectedAt: 1_500,
    });
  });

  it("forgets that a laptop connected when its certificate changed (it must be trusted again)", () => {
    const first = rememberPairing([], pairing("192.168.43.2", "old"), EXIT, 1_000);
    const again = rememberPairing(
      [{ ...first.stored, connectedAt: 1_500 }],
      pairing("192.168.43.2", "new"),
      EXIT,
      2_000,
    );
    expect(again.stored.connectedAt).toBeUndefined();
  });

  it("keeps several laptops, most recent first, and drops the least recently used past the limit", () => {
    let list: StoredPairing[] = [];
    for (let i = 0; i < MAX_PAIRINGS + 2; i++) {
      const result = rememberPairing(list, pairing(`10.0.0.${i}`), EXIT, i);
      list = result.list;
      if (i >= MAX_PAIRINGS)
        expect(result.forgotten.map((p) => p.laptopUrl)).toEqual([`wss://10.0.0.${i - MAX_PAIRINGS}:7443`]);
    }
    expect(list).toHaveLength(MAX_PAIRINGS);
    expect(list[0]?.laptopUrl).toBe(`wss://10.0.0.${MAX_PAIRINGS + 1}:7443`);
  });

  it("falls back to the most recently used when the chosen one is gone", () => {
    const a = rememberPairing([], pairing("10.0.0.1"), EXIT, 1).stored;
    const b = { ...rememberPairing([], pairing("10.0.0.2"), EXIT, 2).stored };
    expect(chosenPairing([a, b], "forgotten")).toBe(b);
    expect(chosenPairing([], undefined)).toBeUndefined();
  });

  it("labels a laptop by its address, and by its exit when that is not this app's", () => {
    const stored = rememberPairing([], pairing("192.168.43.2"), EXIT, 1).stored;
    expect(pairingLabel(stored, "exit.example:8443")).toBe("Laptop 192.168.43.2:7443");
    expect(pairingLabel(stored, "other.example")).toBe("Laptop 192.168.43.2:7443 via exit.example:8443");
  });
});
