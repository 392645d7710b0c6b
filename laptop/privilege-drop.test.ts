import { describe, expect, it } from "vitest";
import {
  type Account,
  accountToRunAs,
  capabilitiesOf,
  dropProblem,
  parsePasswdLine,
} from "./privilege-drop.js";

const PASSWD: Record<string, Account> = {
  "1000": { uid: 1000, gid: 1000, name: "al", home: "/home/al" },
  nobody: { uid: 65534, gid: 65534, name: "nobody", home: undefined },
};
const lookup = (key: string) => PASSWD[key];

describe("whom tether runs as once it gives root up", () => {
  it("is the user sudo ran it for: SUDO_UID and SUDO_GID, name and home from the password database", () => {
    expect(accountToRunAs({ SUDO_UID: "1000", SUDO_GID: "100", SUDO_USER: "al" }, lookup)).toEqual({
      uid: 1000,
      gid: 100,
      name: "al",
      home: "/home/al",
    });
  });

  it("is nobody without SUDO_UID, with SUDO_UID 0 (sudo from root) or with one that is no number", () => {
    for (const env of [{}, { SUDO_UID: "0", SUDO_GID: "0" }, { SUDO_UID: "1000; rm" }, { SUDO_UID: "-1" }]) {
      expect(accountToRunAs(env, lookup)).toEqual(PASSWD.nobody);
    }
  });

  it("is Debian's nobody (65534) when the password database has none", () => {
    expect(accountToRunAs({}, () => undefined)).toMatchObject({ uid: 65534, gid: 65534, name: "nobody" });
  });

  it("reads a passwd line, and has no home for /nonexistent", () => {
    expect(parsePasswdLine("al:x:1000:1000:Al,,,:/home/al:/bin/bash")).toEqual(PASSWD["1000"]);
    expect(parsePasswdLine("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin")).toEqual(
      PASSWD.nobody,
    );
    expect(parsePasswdLine("broken:x:abc")).toBeUndefined();
  });
});

describe("checking that root is gone", () => {
  const al = PASSWD["1000"]!;
  const ids = { uid: 1000, euid: 1000, gid: 1000, egid: 1000, groups: [1000] };
  const none = { effective: 0n, permitted: 0n, ambient: 0n };

  it("accepts the account's ids with no supplementary group and no capability", () => {
    expect(dropProblem(al, ids, none)).toBeUndefined();
  });

  it("names what is left: a uid, a gid, a supplementary group, a capability", () => {
    expect(dropProblem(al, { ...ids, euid: 0 }, none)).toMatch(/euid 0/);
    expect(dropProblem(al, { ...ids, egid: 0 }, none)).toMatch(/egid 0/);
    expect(dropProblem(al, { ...ids, groups: [1000, 27] }, none)).toMatch(/groups 1000,27/);
    expect(dropProblem(al, ids, { ...none, effective: 1n << 12n })).toMatch(/CapEff 1000/);
  });

  it("reads CapEff, CapPrm and CapAmb from /proc/PID/status", () => {
    const status =
      "Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t0000000000001000\nCapAmb:\t0000000000000000\n";
    expect(capabilitiesOf(status)).toEqual({ effective: 0x1000n, permitted: 0x1ffffffffffn, ambient: 0n });
  });
});
