import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { addKey, checkKeysFileMode, KeyStore, KeysError, loadKeys, revokeKey } from "./keys.js";
import { revokedNames, watchKeys } from "./keys-watch.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function keysPath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "tether-keys-test-"));
  dirs.push(dir);
  return join(dir, "keys.json");
}

describe("the exit's keys file", () => {
  it("is written with mode 0600 and passes the mode check", async () => {
    const path = await keysPath();
    await addKey(path, "laptop-1");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await expect(checkKeysFileMode(path)).resolves.toBeUndefined();
  });

  it("is refused, with the command that fixes it, when others may read it", async () => {
    const path = await keysPath();
    await addKey(path, "laptop-1");
    await chmod(path, 0o644);
    await expect(checkKeysFileMode(path)).rejects.toThrow(KeysError);
    await expect(checkKeysFileMode(path)).rejects.toThrow(/mode 0644.*chmod 600/);
    await chmod(path, 0o620);
    await expect(checkKeysFileMode(path)).rejects.toThrow(/mode 0620/);
  });

  it("may be missing (no keys yet)", async () => {
    await expect(checkKeysFileMode(await keysPath())).resolves.toBeUndefined();
  });

  it("names the keys a change revoked or replaced", () => {
    const before = new Map([
      ["a", "k1"],
      ["b", "k2"],
      ["c", "k3"],
    ]);
    const after = new Map([
      ["a", "k1"],
      ["c", "k9"],
      ["d", "k4"],
    ]);
    expect(revokedNames(before, after)).toEqual(["b", "c"]);
  });

  it("tells the watcher which key was revoked, within a few poll intervals", async () => {
    const path = await keysPath();
    await addKey(path, "keep");
    await addKey(path, "gone");
    const revoked: string[][] = [];
    const errors: Error[] = [];
    const watch = await watchKeys(
      path,
      { revoked: (names) => revoked.push(names), error: (error) => errors.push(error) },
      20,
    );
    try {
      await revokeKey(path, "gone");
      const deadline = Date.now() + 5_000;
      while (revoked.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(revoked).toEqual([["gone"]]);
      // A broken file (half-written by hand) is reported and the last good view kept.
      await writeFile(path, "{ not json", { mode: 0o600 });
      const until = Date.now() + 5_000;
      while (errors.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      expect(errors[0]).toBeInstanceOf(KeysError);
      expect(await loadKeys(path).catch(() => [])).toEqual([]);
    } finally {
      watch.close();
    }
  });
});

describe("the keys a handshake is checked against (KeyStore)", () => {
  it("keeps the last good keys while the file is mid-edit, and reports each refusal", async () => {
    const path = await keysPath();
    const entry = await addKey(path, "laptop-1");
    const refused: string[] = [];
    const store = new KeyStore(path, { refused: (error) => refused.push(error.message) });
    const good = await store.secretFor("laptop-1");
    expect(good?.length).toBe(32);
    await writeFile(path, '{"version": 1, "keys": [{"name": "laptop-1", "ke'); // an editor's half-write
    await expect(store.secretFor("laptop-1")).resolves.toEqual(good);
    await expect(store.secretFor("laptop-2")).resolves.toBeUndefined();
    expect(refused).toEqual([`keys file ${path} is not valid JSON`, `keys file ${path} is not valid JSON`]);
    await writeFile(path, JSON.stringify({ version: 1, keys: [{ ...entry, name: "laptop-3" }] }));
    await expect(store.secretFor("laptop-1")).resolves.toBeUndefined(); // a good file rules again
    await expect(store.secretFor("laptop-3")).resolves.toEqual(good);
  });

  it("refuses a malformed key, keeping that name's last good secret and the other keys", async () => {
    const path = await keysPath();
    const one = await addKey(path, "laptop-1");
    await addKey(path, "laptop-2");
    const refused: string[] = [];
    const store = new KeyStore(path, { refused: (error) => refused.push(error.message) });
    const before = await store.secretFor("laptop-1");
    const file = JSON.parse(await readFile(path, "utf8"));
    file.keys[0].key = "not*base64";
    file.keys.push({ name: "laptop-9", key: "short" }, { key: 7 }, null);
    await writeFile(path, JSON.stringify(file));
    await expect(store.secretFor("laptop-1")).resolves.toEqual(before);
    expect((await store.secretFor("laptop-2"))?.length).toBe(32);
    await expect(store.secretFor("laptop-9")).resolves.toBeUndefined();
    expect(refused.filter((m) => m.includes('"laptop-1" is malformed'))).toHaveLength(3);
    expect(refused.some((m) => m.includes('"laptop-9" is malformed'))).toBe(true);
    expect(refused.some((m) => m.includes('"(no name)" is malformed'))).toBe(true);
    expect(one.name).toBe("laptop-1");
  });

  it("never rejects, even when its reporter throws or the file is a directory", async () => {
    const path = await keysPath();
    await mkdir(path);
    const store = new KeyStore(path, {
      refused: () => {
        throw new Error("reporter broke");
      },
    });
    await expect(store.secretFor("laptop-1")).resolves.toBeUndefined();
  });
});
