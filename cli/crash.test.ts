import { describe, expect, it } from "vitest";
import { crashReport } from "./crash.js";

describe("what a process-level handler prints", () => {
  it("prints an error's stack: where the bug is", () => {
    const report = crashReport(new TypeError("x is not a function"));
    expect(report).toMatch(/^TypeError: x is not a function\n\s+at /);
    expect(report).toContain("crash.test.ts");
  });

  it("prints a rejection's reason that is not an error as it is", () => {
    expect(crashReport("gone")).toBe("gone");
    expect(crashReport({ code: 7 })).toBe('{"code":7}');
    expect(crashReport(undefined)).toBe("undefined");
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(crashReport(cycle)).toBe("[object Object]");
  });
});
