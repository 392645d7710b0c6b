import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { adoptLegacyConfig } from "./legacy-config.js";
import type { Account } from "./privilege-drop.js";

const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;
const account: Account = { name: "alice", uid, gid, home: "/home/alice" };

describe("moving the config of a version that ran as root into the user's folder", () => {
  let dir: string;
  let legacy: string;
  let target: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "tether-legacy-"));
    legacy = join(dir, "root", ".config", "tether");
    target = join(dir, "home", "alice", ".config", "tether");
    mkdirSync(legacy, { recursive: true, mode: 0o700 });
    writeFileSync(join(legacy, "laptop-cert.pem"), "CERT", { mode: 0o644 });
    writeFileSync(join(legacy, "laptop-key.pem"), "KEY", { mode: 0o600 });
    writeFileSync(join(legacy, "pairing-secret"), "SECRET", { mode: 0o600 });
    writeFileSync(join(legacy, "config.json"), '{"exit":"wss://exit.example"}', { mode: 0o600 });
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("moves the pairing and settings once, keeps them private, and leaves no copy behind", () => {
    const said = adoptLegacyConfig(target, account, legacy, uid);
    expect(said).toMatch(/moved the phone's pairing and settings from .* the phone needs no new pairing/);
    expect(readFileSync(join(target, "pairing-secret"), "utf8")).toBe("SECRET");
    expect(readFileSync(join(target, "laptop-key.pem"), "utf8")).toBe("KEY");
    expect(readFileSync(join(target, "config.json"), "utf8")).toContain("exit.example");
    expect(statSync(join(target, "laptop-key.pem")).mode & 0o077).toBe(0);
    expect(statSync(join(target, "laptop-cert.pem")).mode & 0o077).toBe(0);
    expect(existsSync(legacy)).toBe(false);
    expect(adoptLegacyConfig(target, account, legacy, uid)).toBeUndefined();
  });

  it("never overwrites a folder that already holds a pairing of the user's", () => {
    mkdirSync(target, { recursive: true });
    writeFileSync(join(target, "pairing-secret"), "MINE");
    expect(adoptLegacyConfig(target, account, legacy, uid)).toBeUndefined();
    expect(readFileSync(join(target, "pairing-secret"), "utf8")).toBe("MINE");
    expect(readFileSync(join(legacy, "pairing-secret"), "utf8")).toBe("SECRET");
  });

  it("takes nothing from a folder others can write, or that is not root's", () => {
    chmodSync(legacy, 0o777);
    expect(adoptLegacyConfig(target, account, legacy, uid)).toBeUndefined();
    chmodSync(legacy, 0o700);
    expect(adoptLegacyConfig(target, account, legacy, uid + 1)).toBeUndefined();
    expect(existsSync(target)).toBe(false);
  });

  it("follows no link and takes no hard-linked file: those stay where they are", () => {
    const elsewhere = join(dir, "shadow");
    writeFileSync(elsewhere, "NOT TETHER'S");
    unlinkSync(join(legacy, "pairing-secret"));
    symlinkSync(elsewhere, join(legacy, "pairing-secret"));
    linkSync(elsewhere, join(legacy, "laptop-ca-cert.pem"));
    adoptLegacyConfig(target, account, legacy, uid);
    expect(existsSync(join(target, "pairing-secret"))).toBe(false);
    expect(existsSync(join(target, "laptop-ca-cert.pem"))).toBe(false);
    expect(readFileSync(join(target, "laptop-cert.pem"), "utf8")).toBe("CERT");
    expect(readFileSync(elsewhere, "utf8")).toBe("NOT TETHER'S");
    expect(existsSync(join(legacy, "laptop-ca-cert.pem"))).toBe(true);
  });

  it("does nothing when there is no old folder, or it is the folder in use", () => {
    expect(adoptLegacyConfig(target, account, join(dir, "none"), uid)).toBeUndefined();
    expect(adoptLegacyConfig(legacy, account, legacy, uid)).toBeUndefined();
    expect(readFileSync(join(legacy, "pairing-secret"), "utf8")).toBe("SECRET");
  });
});
