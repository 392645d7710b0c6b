// tether-exit's first-run help as a process: `keys add` prints the laptop's exact command line,
// and a certificate for another name than the public one is refused before anything starts.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate } from "selfsigned";
import { afterAll, describe, expect, it } from "vitest";
import { parseClientKey } from "../protocol/client-key.js";

const dir = mkdtempSync(join(tmpdir(), "tether-exit-cli-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "exit/cli.ts", ...args],
      { timeout: 20_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("tether-exit for a first-time operator", () => {
  it("prints, with `keys add`, the laptop command line to paste, with this exit's URL and the new key", async () => {
    const keysFile = join(dir, "keys.json");
    const { code, stdout } = await run([
      "keys",
      "add",
      "alice",
      "--keys-file",
      keysFile,
      "--public-url",
      "wss://exit.example.com:8443",
    ]);
    expect(code).toBe(0);
    const save = /^ {2}\(umask 077; echo '([^']+)' > ~\/\.tether-key\)$/m.exec(stdout);
    const command = /^ {2}sudo npx \S+ --exit (\S+) --key-file ~\/\.tether-key$/m.exec(stdout);
    expect(save, stdout).not.toBeNull();
    expect(command, stdout).not.toBeNull();
    expect(command![1]).toBe("wss://exit.example.com:8443");
    expect(parseClientKey(save![1]!).clientId).toBe("alice");
  });

  it("says how to put the public name in that line when it does not know it", async () => {
    const { stdout } = await run(["keys", "add", "bob", "--keys-file", join(dir, "keys.json")]);
    expect(stdout).toMatch(/--exit wss:\/\/THIS-EXIT:8443 /);
    expect(stdout).toMatch(/--public-url wss:\/\/NAME/);
  });

  it("refuses a certificate and key that do not load together, by code", async () => {
    writeFileSync(join(dir, "not-a-cert.pem"), "hello");
    const { code, stderr } = await run([
      "--cert",
      join(dir, "not-a-cert.pem"),
      "--tls-key",
      join(dir, "not-a-cert.pem"),
    ]);
    expect(stderr).toMatch(/\[TLS_MISMATCH\]$/m);
    expect(code).toBe(2);
    const missing = await run(["--cert", join(dir, "nothing.pem"), "--tls-key", join(dir, "nothing.pem")]);
    expect(missing.stderr).toMatch(/\[TLS_UNREADABLE\]$/m);
  });

  it("refuses to start with a certificate for another name than --public-url, in one line", async () => {
    const pems = await generate([{ name: "commonName", value: "other.example" }], {
      keyType: "ec",
      curve: "P-256",
      algorithm: "sha256",
      extensions: [{ name: "subjectAltName", altNames: [{ type: 2, value: "other.example" }] }],
    });
    writeFileSync(join(dir, "cert.pem"), pems.cert);
    writeFileSync(join(dir, "key.pem"), pems.private, { mode: 0o600 });
    const { code, stderr } = await run([
      "--cert",
      join(dir, "cert.pem"),
      "--tls-key",
      join(dir, "key.pem"),
      "--public-url",
      "wss://exit.example.com",
      "--dns",
      "192.0.2.53",
    ]);
    expect(stderr.trimEnd().split("\n"), stderr).toHaveLength(1);
    expect(stderr).toMatch(/\[CERT_NAME_MISMATCH\]$/m);
    expect(stderr).toContain("certbot certonly --standalone -d exit.example.com");
    expect(code).toBe(2);
  });
});
