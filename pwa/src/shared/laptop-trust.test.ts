// Which pairing links relay at once and which are asked about, once or twice (issue 10.8).
import { describe, expect, it } from "vitest";
import { confirmationFor, laptopAddressKind } from "./laptop-trust.js";
import type { Pairing } from "./pairing.js";
import type { StoredPairing } from "./pairings.js";

const EXIT = "wss://exit.example.com/tunnel";

function pairing(laptopUrl: string, fingerprint = "fp-1"): Pairing {
  return { laptopUrl, secret: "s", fingerprint, encoding: "binary" };
}

function stored(laptopUrl: string, fingerprint = "fp-1"): StoredPairing {
  return {
    ...pairing(laptopUrl, fingerprint),
    id: `${laptopUrl} via ${EXIT}`,
    exitUrl: EXIT,
    addedAt: 1,
    lastUsedAt: 1,
    connectedAt: undefined,
  };
}

describe("where a laptop's address says it is", () => {
  it.each([
    ["wss://192.168.43.2:7443", "private"],
    ["wss://172.20.10.3:7443", "private"],
    ["wss://10.1.2.3:7443", "private"],
    ["wss://[fd12:3456::2]:7443", "private"],
    ["wss://169.254.10.1:7443", "link-local"],
    ["wss://[fe80::1]:7443", "link-local"],
    ["wss://my-laptop.local:7443", "local-name"],
    ["wss://8.8.8.8:7443", "elsewhere"],
    ["wss://100.64.0.1:7443", "elsewhere"],
    ["wss://172.32.0.1:7443", "elsewhere"],
    ["wss://127.0.0.1:7443", "elsewhere"],
    ["wss://[::ffff:8.8.8.8]:7443", "elsewhere"],
    ["wss://laptop.example.com:7443", "elsewhere"],
    ["wss://local:7443", "elsewhere"],
    ["not a url", "elsewhere"],
  ])("%s is %s", (url, kind) => {
    expect(laptopAddressKind(url)).toBe(kind);
  });
});

describe("what a pairing link asks before relaying", () => {
  it("asks once about a laptop never paired, on a private or link-local address or a .local name", () => {
    expect(confirmationFor(pairing("wss://192.168.43.2:7443"), [], EXIT)).toBe("new");
    expect(confirmationFor(pairing("wss://169.254.1.1:7443"), [], EXIT)).toBe("new");
    expect(confirmationFor(pairing("wss://laptop.local:7443"), [], EXIT)).toBe("new");
  });

  it("asks twice about a laptop never paired whose address is anywhere else", () => {
    expect(confirmationFor(pairing("wss://203.0.113.9:7443"), [], EXIT)).toBe("new-elsewhere");
    expect(confirmationFor(pairing("wss://evil.example:7443"), [], EXIT)).toBe("new-elsewhere");
  });

  it("asks nothing for a laptop this phone keeps, with the same certificate and exit", () => {
    const list = [stored("wss://192.168.43.2:7443")];
    expect(confirmationFor(pairing("wss://192.168.43.2:7443"), list, EXIT)).toBe("none");
  });

  it("asks again when the certificate changed, or through another exit", () => {
    const list = [stored("wss://192.168.43.2:7443")];
    expect(confirmationFor(pairing("wss://192.168.43.2:7443", "fp-2"), list, EXIT)).toBe("new");
    expect(confirmationFor(pairing("wss://192.168.43.2:7443"), list, "wss://other.example/tunnel")).toBe(
      "new",
    );
  });
});
