// Where the key comes from, and the files that may not hold it: asserted by code.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { codeOf } from "../cli/errors.js";
import { readConfigFile } from "./config.js";
import { checkConfigDir, configDirProblem } from "./config-dir.js";
import { argvKeyWarning, keySource, openModeProblem, readKeyFile } from "./key-file.js";

const KEY = `alice:${"A".repeat(43)}`;
const dir = mkdtempSync(join(tmpdir(), "tether-key-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

async function refusal(run: () => Promise<unknown>): Promise<string> {
  return run().then(
    () => "accepted",
    (error: unknown) => codeOf(error, "no code"),
  );
}

describe("the key's source", () => {
  it("is the highest layer naming a key or a key file", () => {
    expect(keySource({ file: { key: "f" }, env: { keyFile: "/e" }, flags: {} })).toEqual({
      kind: "file",
      path: "/e",
      layer: "env",
    });
    expect(keySource({ file: { keyFile: "/f" }, env: {}, flags: { key: "k" } })).toEqual({
      kind: "value",
      key: "k",
      layer: "flags",
    });
    expect(keySource({ file: {}, env: {}, flags: {} })).toBeUndefined();
  });

  it("refuses one layer naming both with USAGE_CONFLICT", () => {
    expect(() => keySource({ file: {}, env: {}, flags: { key: "k", keyFile: "/f" } })).toThrow(
      expect.objectContaining({ code: "USAGE_CONFLICT" }),
    );
  });

  it("warns about a key typed on the command line only", () => {
    expect(argvKeyWarning({ kind: "value", key: "k", layer: "flags" })).toMatch(
      /--key-file.*\[KEY_IN_ARGV\]$/,
    );
    expect(argvKeyWarning({ kind: "value", key: "k", layer: "env" })).toBeUndefined();
    expect(argvKeyWarning({ kind: "file", path: "/f", layer: "flags" })).toBeUndefined();
  });
});

describe("a key file", () => {
  it("gives its one line when only its owner may read it", async () => {
    expect(await readKeyFile(file("good", `${KEY}\n`, 0o600))).toBe(KEY);
    expect(await readKeyFile(file("read-only", KEY, 0o400))).toBe(KEY);
  });

  it.each([0o644, 0o640, 0o604, 0o660, 0o606])(
    "is refused with KEY_FILE_MODE at mode %o, with the chmod that fixes it",
    async (mode) => {
      const path = file(`open-${mode.toString(8)}`, KEY, mode);
      expect(await refusal(() => readKeyFile(path))).toBe("KEY_FILE_MODE");
      await expect(readKeyFile(path)).rejects.toThrow(`chmod 600 ${path}`);
    },
  );

  it("is refused with KEY_FILE_UNREADABLE when missing, empty, a folder or more than one line", async () => {
    expect(await refusal(() => readKeyFile(join(dir, "missing")))).toBe("KEY_FILE_UNREADABLE");
    expect(await refusal(() => readKeyFile(file("empty", "\n", 0o600)))).toBe("KEY_FILE_UNREADABLE");
    expect(await refusal(() => readKeyFile(file("two", `${KEY}\n${KEY}\n`, 0o600)))).toBe(
      "KEY_FILE_UNREADABLE",
    );
    expect(await refusal(() => readKeyFile(dir))).toBe("KEY_FILE_UNREADABLE");
  });

  it("names the mode in its refusal", () => {
    expect(openModeProblem("/k", 0o100644)).toBe(
      "/k holds a secret and is open to others (mode 0644): chmod 600 /k",
    );
    expect(openModeProblem("/k", 0o100600)).toBeUndefined();
  });
});

describe("a config.json holding the key", () => {
  it("is refused with KEY_FILE_MODE when others may read it, and read when they may not", async () => {
    const folder = mkdtempSync(join(dir, "cfg-"));
    file(join(folder.slice(dir.length + 1), "config.json"), JSON.stringify({ key: KEY }), 0o644);
    expect(await refusal(() => readConfigFile(folder))).toBe("KEY_FILE_MODE");
    chmodSync(join(folder, "config.json"), 0o600);
    expect(await readConfigFile(folder)).toEqual({ key: KEY });
  });

  it("may be readable by others when it holds no key", async () => {
    const folder = mkdtempSync(join(dir, "cfg-"));
    file(join(folder.slice(dir.length + 1), "config.json"), JSON.stringify({ port: 9443 }), 0o644);
    expect(await readConfigFile(folder)).toEqual({ port: 9443 });
  });
});

describe("the config folder", () => {
  const folder = (path: string, mode: number, uid = 0) => ({ path, mode: 0o040000 | mode, uid });

  it("is fine when only its owner may write it and nothing above it is open", () => {
    expect(
      configDirProblem(
        [folder("/root/.config/tether", 0o700), folder("/root/.config", 0o755), folder("/", 0o755)],
        0,
      ),
    ).toBeUndefined();
    expect(
      configDirProblem([folder("/tmp/x", 0o700), folder("/tmp", 0o1777), folder("/", 0o755)], 0),
    ).toBeUndefined();
  });

  it("is refused when others may write it, with the chmod that fixes it", () => {
    expect(configDirProblem([folder("/c", 0o777)], 0)).toMatch(
      /writable by others \(mode 0777\): chmod go-w \/c$/,
    );
    expect(configDirProblem([folder("/c", 0o770)], 0)).toMatch(/chmod go-w/);
  });

  it("is refused when root would write in a folder another user owns", () => {
    expect(configDirProblem([folder("/home/al/.config/tether", 0o700, 1000)], 0)).toMatch(/uid 1000.*chown/);
    expect(configDirProblem([folder("/home/al/.config/tether", 0o700, 1000)], 1000)).toBeUndefined();
  });

  it("is fine for root when it belongs to the account root gives way to, refused for any other", () => {
    expect(configDirProblem([folder("/home/al/.config/tether", 0o700, 1000)], 0, 1000)).toBeUndefined();
    expect(configDirProblem([folder("/home/al/.config/tether", 0o700, 1001)], 0, 1000)).toMatch(
      /belongs to uid 1001 but tether writes it as uid 1000, which tether runs as: sudo chown -R 1000:/,
    );
  });

  it("is refused under a folder others may write without the sticky bit", () => {
    expect(
      configDirProblem([folder("/shared/tether", 0o700), folder("/shared", 0o777), folder("/", 0o755)], 0),
    ).toMatch(/\/shared, above the config folder/);
  });

  it("is checked on disk: a folder not made yet passes, an open one is CONFIG_DIR_UNSAFE", async () => {
    await checkConfigDir(join(dir, "not-yet"));
    const open = join(dir, "open-folder");
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(await refusal(() => checkConfigDir(open))).toBe("CONFIG_DIR_UNSAFE");
    chmodSync(open, 0o700);
    await checkConfigDir(open);
  });
});
