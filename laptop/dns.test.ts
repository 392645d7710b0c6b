import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Dns, DnsError } from "./dns.js";

describe("DNS through a resolv.conf file", () => {
  let dir: string;
  let resolvConf: string;
  const original = "# the machine's own\nnameserver 192.168.43.1\n";

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "tether-dns-"));
    resolvConf = join(dir, "resolv.conf");
    await writeFile(resolvConf, original);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const dns = () => new Dns({ tunName: "tether0", backupPath: join(dir, "backup"), resolvConf });

  it("points the resolver at the exit's servers and puts the original back byte for byte", async () => {
    const subject = dns();
    await subject.apply(["198.51.100.2", "198.51.100.3"]);
    const during = await readFile(resolvConf, "utf8");
    expect(during).toMatch(/^nameserver 198\.51\.100\.2$/m);
    expect(during).toMatch(/^nameserver 198\.51\.100\.3$/m);
    subject.restoreSync();
    expect(await readFile(resolvConf, "utf8")).toBe(original);
  });

  it("keeps the first original when servers are applied twice", async () => {
    const subject = dns();
    await subject.apply(["198.51.100.2"]);
    await subject.apply(["198.51.100.9"]);
    subject.restoreSync();
    expect(await readFile(resolvConf, "utf8")).toBe(original);
  });

  it("leaves the file untouched when a resumed session announces the same servers again", async () => {
    const subject = dns();
    await subject.apply(["198.51.100.2"]);
    // A rewrite (truncate, then write) opens a moment with no resolver: it must not happen.
    const written = await stat(resolvConf);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await subject.apply(["198.51.100.2"]);
    expect((await stat(resolvConf)).mtimeMs).toBe(written.mtimeMs);
    await subject.apply(["198.51.100.9"]);
    expect(await readFile(resolvConf, "utf8")).toMatch(/^nameserver 198\.51\.100\.9$/m);
    subject.restoreSync();
    expect(await readFile(resolvConf, "utf8")).toBe(original);
  });

  it("restores a resolver a killed run left changed, at the next start", async () => {
    await dns().apply(["198.51.100.2"]); // and then the process died
    expect(dns().recoverSync()).toBe(true);
    expect(await readFile(resolvConf, "utf8")).toBe(original);
    expect(dns().recoverSync()).toBe(false);
  });

  it("changes nothing when the exit announced no servers", async () => {
    await dns().apply([]);
    expect(await readFile(resolvConf, "utf8")).toBe(original);
  });

  it("takes IPv6 servers beside IPv4 ones, as a dual-stack exit announces them", async () => {
    const subject = dns();
    await subject.apply(["198.51.100.2", "2001:db8:e::2"]);
    expect(await readFile(resolvConf, "utf8")).toMatch(
      /^nameserver 198\.51\.100\.2\nnameserver 2001:db8:e::2$/m,
    );
    subject.restoreSync();
    expect(await readFile(resolvConf, "utf8")).toBe(original);
  });

  it("refuses servers that are not IP addresses, keeping the last good ones", async () => {
    const subject = dns();
    await subject.apply(["198.51.100.2"]);
    const good = await readFile(resolvConf, "utf8");
    for (const bad of [
      ["198.51.100.2\nsearch evil.example"],
      ["2001:db8::1%eth0"],
      ["1.2.3"],
      ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5", "::1", "::2", "::3", "::4"],
    ]) {
      const refusal = await subject.apply(bad).catch((error: unknown) => error);
      expect(refusal, JSON.stringify(bad)).toBeInstanceOf(DnsError);
      expect((refusal as DnsError).code).toBe("DNS_BAD_SERVERS");
    }
    expect(await readFile(resolvConf, "utf8")).toBe(good);
    subject.restoreSync();
    expect(await readFile(resolvConf, "utf8")).toBe(original);
  });

  it("reports a write the system refuses as DNS_REFUSED, and still restores the original", async () => {
    const subject = new Dns({ tunName: "tether0", backupPath: join(dir, "backup"), resolvConf: dir }); // a folder: EISDIR
    const refusal = await subject.apply(["198.51.100.2"]).catch((error: unknown) => error);
    expect((refusal as DnsError).code).toBe("DNS_REFUSED");
  });
});
