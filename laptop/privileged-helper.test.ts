import { describe, expect, it } from "vitest";
import { MAX_BACKLOG, PrivilegedHelper } from "./privileged-helper.js";
import { MAX_REQUEST_LINE_BYTES } from "./privileged-protocol.js";
import type { TunnelAddress } from "./routes.js";
import type { TunnelAddress6 } from "./routes6.js";
import type { SystemChanges } from "./system-changes.js";

/** The system seam, recording what it was asked; `refuse` makes the next change fail with a code. */
class FakeSystem implements SystemChanges {
  calls: string[] = [];
  refuse: { code: string; message: string } | undefined;
  /** While set, a change waits for it. */
  gate: Promise<void> | undefined;

  recoverSync(): string[] {
    return [];
  }
  async address(config: TunnelAddress): Promise<void> {
    await this.change(`address ${config.address}/${config.prefixLength} mtu ${config.mtu}`);
  }
  async address6(config: TunnelAddress6 | undefined): Promise<void> {
    await this.change(config ? `address6 ${config.address}/${config.prefixLength}` : "address6 unreachable");
  }
  async dns(servers: readonly string[]): Promise<void> {
    await this.change(`dns ${servers.join(",")}`);
  }
  restoreSync(): void {
    this.calls.push("restore");
  }
  private async change(call: string): Promise<void> {
    await this.gate;
    if (this.refuse) {
      const { code, message } = this.refuse;
      this.refuse = undefined;
      throw Object.assign(new Error(message), { code });
    }
    this.calls.push(call);
  }
}

function helper(options: { dns?: boolean } = {}) {
  const system = new FakeSystem();
  const replies: Record<string, unknown>[] = [];
  const refused: string[] = [];
  const core = new PrivilegedHelper(system, {
    dns: options.dns ?? true,
    send: (line) => replies.push(JSON.parse(line) as Record<string, unknown>),
    onRefused: (code) => refused.push(code),
  });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  return { system, replies, refused, core, settle };
}

const address = (id: number, fields: Record<string, unknown> = {}) =>
  JSON.stringify({ id, op: "address", address: "10.77.0.2", prefixLength: 16, mtu: 1400, ...fields });

describe("the privileged helper", () => {
  it("applies an address request through the system and answers ok with the request's id", async () => {
    const { system, replies, core, settle } = helper();
    core.receive(`${address(7)}\n`);
    await settle();
    expect(system.calls).toEqual(["address 10.77.0.2/16 mtu 1400"]);
    expect(replies).toEqual([{ id: 7, ok: true }]);
  });

  it("applies IPv6, IPv6 unreachable and DNS requests in the order they came", async () => {
    const { system, replies, core, settle } = helper();
    core.receive(
      [
        JSON.stringify({ id: 1, op: "address6", address: "fd77::2", prefixLength: 64 }),
        JSON.stringify({ id: 2, op: "address6", address: null }),
        JSON.stringify({ id: 3, op: "dns", servers: ["10.77.0.1", "fd77::1"] }),
        "",
      ].join("\n"),
    );
    await settle();
    expect(system.calls).toEqual(["address6 fd77::2/64", "address6 unreachable", "dns 10.77.0.1,fd77::1"]);
    expect(replies.map((r) => r.id)).toEqual([1, 2, 3]);
  });

  it("reads a request split over several pieces of the pipe", async () => {
    const { system, core, settle } = helper();
    const line = `${address(1)}\n`;
    for (const char of line) core.receive(char);
    await settle();
    expect(system.calls).toEqual(["address 10.77.0.2/16 mtu 1400"]);
  });

  it.each([
    ["not JSON", "{nope", 0],
    ["a JSON array", "[1,2]", 0],
    ["an unknown op", JSON.stringify({ id: 4, op: "exec", argv: ["sh"] }), 4],
    ["a field the op does not take", address(5, { dev: "eth0" }), 5],
    ["an address that is no string", address(6, { address: 167772162 }), 6],
    ["a prefix length past 32", address(8, { prefixLength: 33 }), 8],
    ["an MTU under the protocol's minimum", address(9, { mtu: 100 }), 9],
    ["an id that is no integer", address(1.5), 0],
    [
      "more DNS servers than WELCOME carries",
      JSON.stringify({ id: 10, op: "dns", servers: Array(9).fill("1.1.1.1") }),
      10,
    ],
    ["a DNS server that is no string", JSON.stringify({ id: 11, op: "dns", servers: [{}] }), 11],
    [
      "IPv6 unreachable with a prefix length",
      JSON.stringify({ id: 12, op: "address6", address: null, prefixLength: 64 }),
      12,
    ],
  ])("refuses %s with PRIVILEGED_BAD_REQUEST and changes nothing", async (_what, line, id) => {
    const { system, replies, core, settle } = helper();
    core.receive(`${line}\n`);
    await settle();
    expect(system.calls).toEqual([]);
    expect(replies).toEqual([{ id, ok: false, code: "PRIVILEGED_BAD_REQUEST", message: expect.any(String) }]);
    expect(core.refusals).toEqual({ PRIVILEGED_BAD_REQUEST: 1 });
  });

  it("drops a line over the limit unread, even when it comes in pieces, and reads the next one", async () => {
    const { system, replies, core, settle } = helper();
    const long = "x".repeat(MAX_REQUEST_LINE_BYTES);
    core.receive(long);
    core.receive(long); // still the same line
    core.receive(`${long}\n${address(2)}\n`);
    await settle();
    expect(replies).toEqual([
      { id: 0, ok: false, code: "PRIVILEGED_LINE_TOO_LONG", message: expect.any(String) },
      { id: 2, ok: true },
    ]);
    expect(system.calls).toEqual(["address 10.77.0.2/16 mtu 1400"]);
  });

  it("passes the system's refusal on with its code, and the next request still works", async () => {
    const { system, replies, core, settle, refused } = helper();
    system.refuse = { code: "ROUTES_LOCAL_NETWORK", message: "on this laptop's own network" };
    core.receive(`${address(1, { address: "192.168.43.7" })}\n${address(2)}\n`);
    await settle();
    expect(replies).toEqual([
      { id: 1, ok: false, code: "ROUTES_LOCAL_NETWORK", message: "on this laptop's own network" },
      { id: 2, ok: true },
    ]);
    expect(refused).toEqual(["ROUTES_LOCAL_NETWORK"]);
  });

  it("refuses DNS changes with PRIVILEGED_DNS_OFF when the tether was started without them", async () => {
    const { system, replies, core, settle } = helper({ dns: false });
    core.receive(`${JSON.stringify({ id: 3, op: "dns", servers: ["10.77.0.1"] })}\n`);
    await settle();
    expect(system.calls).toEqual([]);
    expect(replies).toEqual([{ id: 3, ok: false, code: "PRIVILEGED_DNS_OFF", message: expect.any(String) }]);
  });

  it("refuses requests past its backlog with PRIVILEGED_BUSY instead of queueing them", async () => {
    const { system, replies, core, settle } = helper();
    let open: () => void = () => undefined;
    system.gate = new Promise((resolve) => {
      open = resolve;
    });
    const lines = Array.from({ length: MAX_BACKLOG + 2 }, (_, i) => `${address(i + 1)}\n`);
    core.receive(lines.join(""));
    await settle();
    expect(replies).toEqual([
      { id: MAX_BACKLOG + 1, ok: false, code: "PRIVILEGED_BUSY", message: expect.any(String) },
      { id: MAX_BACKLOG + 2, ok: false, code: "PRIVILEGED_BUSY", message: expect.any(String) },
    ]);
    system.gate = undefined;
    open();
    await settle();
    expect(replies.filter((r) => r.ok)).toHaveLength(MAX_BACKLOG);
  });

  it("puts everything back on a restore request, and again when the pipe closes", async () => {
    const { system, replies, core, settle } = helper();
    core.receive(`${address(1)}\n${JSON.stringify({ id: 2, op: "restore" })}\n`);
    await settle();
    expect(system.calls).toEqual(["address 10.77.0.2/16 mtu 1400", "restore"]);
    expect(replies).toEqual([
      { id: 1, ok: true },
      { id: 2, ok: true },
    ]);
    await core.close();
    expect(system.calls.at(-1)).toBe("restore");
  });

  it("restores after the change in hand when the pipe closes mid-request, and reads nothing after", async () => {
    const { system, core } = helper();
    let open: () => void = () => undefined;
    system.gate = new Promise((resolve) => {
      open = resolve;
    });
    core.receive(`${address(1)}\n`);
    const closed = core.close();
    core.receive(`${address(2, { address: "10.77.0.3" })}\n`);
    open();
    await closed;
    expect(system.calls).toEqual(["address 10.77.0.2/16 mtu 1400", "restore"]);
  });
});
