// The exit's HTTP server under 10k hostile requests (testing/http-requests.ts): odd request lines,
// targets (`//`, dot segments, escapes, absolute forms), headers and bodies, WebSocket upgrades
// among them. Oracle: no listener throws (vitest fails on an uncaught error) and after every batch
// the exit still answers /healthz with 200.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HTTP_FUZZ_CASES, rawRequest, send, sendAll } from "../testing/http-requests.js";
import { createFakeTun } from "../tun/fake.js";
import { EXIT_DEFAULTS, type RunningExit, startExit } from "./exit.js";
import { addKey } from "./keys.js";

const BATCH = 500;

describe("the exit's HTTP server, fuzzed", () => {
  let dir: string;
  let exit: RunningExit;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tether-http-fuzz-"));
    await addKey(join(dir, "keys.json"), "laptop-1");
    exit = await startExit({
      ...EXIT_DEFAULTS,
      host: "127.0.0.1",
      port: 0,
      keysFile: join(dir, "keys.json"),
      dns: [],
      pwaDir: dir,
      tun: createFakeTun("exit-fake"),
      nat: false,
      logger: pino({ level: "silent" }),
    });
  });

  afterAll(async () => {
    await exit?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it(`answers ${HTTP_FUZZ_CASES} hostile requests without a listener throwing, and keeps answering /healthz`, async () => {
    const cases = fc.sample(rawRequest, { numRuns: HTTP_FUZZ_CASES, seed: 10_9 });
    const statuses = new Map<string, number>();
    for (let start = 0; start < cases.length; start += BATCH) {
      const answers = await sendAll(exit.port, cases.slice(start, start + BATCH));
      for (const { status, timedOut } of answers) {
        const key = timedOut ? `${status ?? "no answer"} (timed out)` : String(status ?? "closed");
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      }
      const health = await send(exit.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      expect(health.status, `after cases ${start}-${start + BATCH - 1}`).toBe(200);
    }
    console.log(
      `[http fuzz] exit: ${cases.length} requests; answers ${JSON.stringify(Object.fromEntries(statuses))}`,
    );
  }, 300_000);
});
