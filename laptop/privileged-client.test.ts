import { describe, expect, it } from "vitest";
import { PrivilegedClient } from "./privileged-client.js";

/** A stand-in helper: ready, then ok for address and restore, a refusal for dns, gone on address6. */
const FAKE_HELPER = `
  const seen = [];
  process.stdout.write(JSON.stringify({ ready: true, notices: ["recovered " + process.argv[1]] }) + "\\n");
  let partial = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => {
    const lines = (partial + chunk).split("\\n");
    partial = lines.pop();
    for (const line of lines) {
      const request = JSON.parse(line);
      if (request.op === "address6") process.exit(3);
      const reply = request.op === "dns"
        ? { id: request.id, ok: false, code: "DNS_BAD_SERVERS", message: "not IP addresses" }
        : { id: request.id, ok: true };
      process.stdout.write(JSON.stringify(reply) + "\\n");
    }
  });
  process.stdin.on("end", () => process.exit(0));
`;

const start = (onGone?: (why: string) => void) =>
  PrivilegedClient.start({
    command: [process.execPath, "-e", FAKE_HELPER],
    tunName: "tether0",
    dns: true,
    stateDir: "/nonexistent",
    ...(onGone ? { onGone } : {}),
  });

describe("the unprivileged side of the privileged helper", () => {
  it("waits for the helper to be ready and gives what it recovered at its start, once", async () => {
    const client = await start();
    try {
      expect(client.recoverSync()).toEqual([
        `recovered ${JSON.stringify({ tunName: "tether0", dns: true, stateDir: "/nonexistent" })}`,
      ]);
      expect(client.recoverSync()).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it("resolves a request the helper took and rejects a refused one with the helper's code", async () => {
    const client = await start();
    try {
      await client.address({ address: "10.77.0.2", prefixLength: 16, mtu: 1400 });
      await expect(client.dns(["nope"])).rejects.toMatchObject({
        name: "PrivilegedError",
        code: "DNS_BAD_SERVERS",
        message: "not IP addresses",
      });
      await client.address({ address: "10.77.0.3", prefixLength: 16, mtu: 1400 }); // still usable
    } finally {
      await client.close();
    }
  });

  it("says the helper is gone (PRIVILEGED_HELPER_GONE), to the request in hand and to onGone", async () => {
    const gone: string[] = [];
    const client = await start((why) => gone.push(why));
    await expect(client.address6(undefined)).rejects.toMatchObject({ code: "PRIVILEGED_HELPER_GONE" });
    await client.exited;
    expect(gone).toEqual(["the privileged helper ended (exit code 3)"]);
    await expect(client.address({ address: "10.77.0.2", prefixLength: 16, mtu: 1400 })).rejects.toMatchObject(
      {
        code: "PRIVILEGED_HELPER_GONE",
      },
    );
    await client.close(); // nothing left to close: returns at once
  });

  it("fails to start with PRIVILEGED_HELPER_GONE when the helper stops before it is ready", async () => {
    await expect(
      PrivilegedClient.start({
        command: [process.execPath, "-e", "process.exit(2)"],
        tunName: "tether0",
        dns: true,
        stateDir: "/nonexistent",
      }),
    ).rejects.toMatchObject({
      code: "PRIVILEGED_HELPER_GONE",
      message: expect.stringContaining("exit code 2"),
    });
  });
});
