import { describe, expect, it } from "vitest";
import { AddressPool, parsePrefix } from "./pool.js";

describe("the address pool", () => {
  it("keeps the first address for the exit and hands out the rest", () => {
    const pool = new AddressPool("10.77.0.0/16");
    expect(pool.gateway).toBe("10.77.0.1");
    expect(pool.allocate()).toBe("10.77.0.2");
    expect(pool.allocate()).toBe("10.77.0.3");
  });

  it("runs out cleanly, and hands a freed address out again later", () => {
    const pool = new AddressPool("10.9.9.0/30"); // network, exit, one laptop, broadcast
    expect(pool.allocate()).toBe("10.9.9.2");
    expect(pool.allocate()).toBeUndefined();
    pool.release("10.9.9.2");
    expect(pool.allocate()).toBe("10.9.9.2");
  });

  it("does not hand a just-freed address out again while others are free", () => {
    const pool = new AddressPool("10.1.0.0/24");
    const first = pool.allocate()!;
    pool.release(first);
    expect(pool.allocate()).not.toBe(first);
  });

  it("takes an IPv4 prefix from /12 to /30 and refuses anything else by code", () => {
    expect(parsePrefix("10.77.0.0/16")).toMatchObject({ network: 0x0a4d0000, length: 16 });
    for (const [text, code] of [
      ["10.77.0.0", "IP_BAD_PREFIX"],
      ["10.77.3.4/16", "IP_HOST_BITS"],
      ["300.1.1.1/16", "IP_BAD_ADDRESS"],
      ["010.77.0.0/16", "IP_BAD_ADDRESS"],
      ["fd00::/64", "IP_WRONG_FAMILY"],
      ["10.0.0.0/8", "POOL_SIZE"],
      ["10.77.0.0/31", "POOL_SIZE"],
    ] as const) {
      expect(
        codeOf(() => parsePrefix(text)),
        text,
      ).toBe(code);
    }
  });
});

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return (error as { code: string }).code;
  }
  return "none";
}
