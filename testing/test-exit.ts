// A real exit for unit tests: a fake TUN, no NAT, loopback on a free port, a temp folder with a
// keys file holding "laptop-1", and the tests' internet (a documentation range, refused by
// default) opened as an operator would. Stopped and removed by the caller's cleanups, in reverse.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { parseCidrList } from "../exit/egress-guard.js";
import { EXIT_DEFAULTS, type ExitOptions, type RunningExit, startExit } from "../exit/exit.js";
import { addKey } from "../exit/keys.js";
import { createFakeTun, type FakeTun } from "../tun/fake.js";

export interface TestExit {
  exit: RunningExit;
  /** The exit's TUN (the one given in the options, else a fake made here). */
  tun: FakeTun;
  dir: string;
  keysFile: string;
  /** NAME:SECRET of the key "laptop-1". */
  key: string;
}

/** What a test runs after it, last pushed first. */
export type Cleanups = (() => unknown)[];

export async function startTestExit(
  cleanups: Cleanups,
  options: Partial<Omit<ExitOptions, "tun">> & { tun?: FakeTun } = {},
): Promise<TestExit> {
  const dir = await mkdtemp(join(tmpdir(), "tether-test-exit-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const keysFile = join(dir, "keys.json");
  const entry = await addKey(keysFile, "laptop-1");
  const tun = options.tun ?? createFakeTun("exit-fake");
  const exit = await startExit({
    ...EXIT_DEFAULTS,
    host: "127.0.0.1",
    port: 0,
    keysFile,
    dns: ["198.51.100.53"],
    allowEgress: parseCidrList("198.51.100.0/24"),
    pwaDir: dir,
    nat: false,
    logger: pino({ level: "silent" }),
    ...options,
    tun,
  });
  cleanups.push(() => exit.stop());
  return { exit, tun, dir, keysFile, key: `${entry.name}:${entry.key}` };
}
