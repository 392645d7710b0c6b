import { linkSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { handOverConfigDir, handOverProblem, prepareConfigDir, unreachableBy } from "./config-owner.js";
import type { Account } from "./privilege-drop.js";

const isRoot = process.getuid?.() === 0;
const al: Account = { uid: 4242, gid: 4243, name: "al", home: undefined };

describe("handing the config folder over to the account tether runs as", () => {
  let base: string;
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), "tether-owner-"));
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it("says which folder above it the account cannot enter", () => {
    const closed = join(base, "closed");
    mkdirSync(closed, { mode: 0o700 });
    expect(unreachableBy(join(closed, "tether"), al)).toBe(`al (uid 4242) cannot enter ${closed}`);
    const open = join(base, "open");
    mkdirSync(open, { mode: 0o755 });
    expect(unreachableBy(join(open, "tether"), { ...al, uid: 0 })).toBeUndefined();
  });

  it.skipIf(!isRoot)(
    "refuses to give away a folder of root's holding files that are not tether's, as --config-dir /etc (needs root)",
    () => {
      const dir = join(base, "etc");
      mkdirSync(dir, { mode: 0o755 });
      writeFileSync(join(dir, "laptop-cert.pem"), "cert");
      writeFileSync(join(dir, "laptop-cert.pem.123.0badf00d.tmp"), "aside");
      expect(handOverProblem(dir)).toBeUndefined();
      writeFileSync(join(dir, "shadow"), "root's");
      expect(handOverProblem(dir)).toMatch(
        /belongs to root and holds files that are not tether's \(shadow\)/,
      );
      expect(() => handOverConfigDir(dir, al)).toThrow(/not tether's/);
      expect(lstatSync(join(dir, "shadow")).uid).toBe(0);
    },
  );

  it.skipIf(!isRoot)("makes the missing folders for the account, each its own (needs root)", () => {
    const dir = join(base, "home", ".config", "tether");
    prepareConfigDir(dir, al);
    for (const path of [join(base, "home"), join(base, "home", ".config"), dir]) {
      expect(lstatSync(path)).toMatchObject({ uid: 4242, gid: 4243 });
      expect(lstatSync(path).mode & 0o777).toBe(0o700);
    }
    expect(lstatSync(base).uid).toBe(0); // what was there stays as it was
  });

  it.skipIf(!isRoot)(
    "hands over root's files and the folder, and neither a link nor a file with a second link (needs root)",
    () => {
      const dir = join(base, "tether");
      mkdirSync(dir, { mode: 0o700 });
      writeFileSync(join(dir, "laptop-key.pem"), "key", { mode: 0o600 });
      expect(handOverConfigDir(dir, al)).toBe(2);
      expect(lstatSync(join(dir, "laptop-key.pem"))).toMatchObject({ uid: 4242, gid: 4243 });
      expect(lstatSync(dir)).toMatchObject({ uid: 4242, gid: 4243 });
      // Now the account's folder: what it plants there is not followed, nor handed anything.
      const outside = join(base, "outside");
      writeFileSync(outside, "root's");
      symlinkSync(outside, join(dir, "pairing-secret"));
      linkSync(outside, join(dir, "status.json"));
      writeFileSync(join(dir, "shadow"), "root's too");
      expect(handOverConfigDir(dir, al)).toBe(0);
      expect(lstatSync(outside).uid).toBe(0);
      expect(lstatSync(join(dir, "pairing-secret")).uid).toBe(0);
      expect(lstatSync(join(dir, "shadow")).uid).toBe(0);
    },
  );
});
