import { lstat, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  readFileNoFollow,
  readFileNoFollowSync,
  SafeWriteError,
  writeFileSafely,
  writeFileSafelySync,
} from "./safe-write.js";

describe("writing in a folder someone else may have planted links in", () => {
  let dir: string;
  let victim: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "tether-safe-write-"));
    victim = join(dir, "victim");
    await writeFile(victim, "root's own file\n");
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it.each([
    ["async", writeFileSafely],
    ["sync", async (path: string, data: string, mode: number) => writeFileSafelySync(path, data, mode)],
  ] as const)("replaces a planted symlink instead of writing through it (%s)", async (_kind, write) => {
    const target = join(dir, "laptop-key.pem");
    await symlink(victim, target);
    await write(target, "secret\n", 0o600);
    expect(await readFile(victim, "utf8")).toBe("root's own file\n");
    expect((await lstat(target)).isSymbolicLink()).toBe(false);
    expect(await readFile(target, "utf8")).toBe("secret\n");
    expect((await stat(target)).mode & 0o777).toBe(0o600);
    expect((await readdir(dir)).sort()).toEqual(["laptop-key.pem", "victim"]); // nothing left aside
  });

  it("refuses to read through a symlink, and says so with a code", async () => {
    const target = join(dir, "laptop-ca-cert.pem");
    await symlink(victim, target);
    const refusal = await readFileNoFollow(target).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(SafeWriteError);
    expect((refusal as SafeWriteError).code).toBe("SAFE_WRITE_SYMLINK");
    expect(() => readFileNoFollowSync(target)).toThrow(/symbolic link/);
    expect(await readFileNoFollow(join(dir, "missing"))).toBeUndefined();
    expect(await readFileNoFollow(victim)).toBe("root's own file\n");
  });

  it("fails with a code, leaving nothing aside, when the folder is gone", async () => {
    const refusal = await writeFileSafely(join(dir, "no-such-folder", "x"), "x", 0o600).catch(
      (e: unknown) => e,
    );
    expect((refusal as SafeWriteError).code).toBe("SAFE_WRITE_FAILED");
  });
});
