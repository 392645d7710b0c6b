// The laptop's phone listener under 10k hostile requests (testing/http-requests.ts), over TLS as a
// device on the hotspot sends them: odd request lines, targets (`//`, escapes, absolute forms),
// headers and bodies, WebSocket upgrades with and without the pairing secret. Oracle: no listener
// throws (vitest fails on an uncaught error) and after every batch the laptop still serves `/`.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HTTP_FUZZ_CASES, rawRequest, send, sendAll } from "../testing/http-requests.js";
import { loadOrCreateCertificate } from "./certificate.js";
import { PhoneServer } from "./phone-server.js";

const BATCH = 500;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

describe("the laptop's phone listener, fuzzed", () => {
  let dir: string;
  let server: PhoneServer;
  let port: number;
  let relays = 0;
  let refusals = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tether-phone-fuzz-"));
    port = await freePort();
    server = new PhoneServer({
      addresses: ["127.0.0.1"],
      port,
      certificate: await loadOrCreateCertificate(dir, ["127.0.0.1"]),
      pairingSecret: "fuzz-secret-0123456789",
      allowedOrigins: ["https://exit.example"],
      onRelay: (transport) => {
        relays++;
        transport.onClose(() => undefined);
        transport.close(1000, "fuzz");
      },
      onRefused: () => {
        refusals++;
      },
    });
    await server.listen();
  });

  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`answers ${HTTP_FUZZ_CASES} hostile requests without a listener throwing, and keeps serving /`, async () => {
    // Some cases carry the real secret, so upgrades get past it to the origin check and beyond.
    const cases = fc
      .sample(rawRequest, { numRuns: HTTP_FUZZ_CASES, seed: 10_9 })
      .map((request, i) =>
        i % 4 === 0 ? request.replace(/secret=[^& ]*/, "secret=fuzz-secret-0123456789") : request,
      );
    const statuses = new Map<string, number>();
    for (let start = 0; start < cases.length; start += BATCH) {
      const answers = await sendAll(port, cases.slice(start, start + BATCH), { tls: true });
      for (const { status, timedOut } of answers) {
        const key = timedOut ? `${status ?? "no answer"} (timed out)` : String(status ?? "closed");
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      }
      const page = await send(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", true);
      expect(page.status, `after cases ${start}-${start + BATCH - 1}`).toBe(200);
    }
    console.log(
      `[http fuzz] laptop: ${cases.length} requests; answers ${JSON.stringify(Object.fromEntries(statuses))}; ${refusals} refusals reported, ${relays} relays opened`,
    );
  }, 300_000);
});
