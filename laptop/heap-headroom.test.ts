import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { growHeapForForwarding, HEAP_GROWING_PERCENT } from "./heap-headroom.js";

/** A child Node that grows its heap as the laptop does, then collects twice; bounded. */
const CHILD_TIMEOUT_MS = 20_000;

describe("the laptop's heap headroom", () => {
  it("asks V8 to let the old generation grow 300 % past the live heap", () => {
    const asked: string[] = [];
    growHeapForForwarding((flags) => asked.push(flags));
    expect(asked).toEqual(["--heap-growing-percent=300"]);
    expect(HEAP_GROWING_PERCENT).toBe(300);
  });

  it("is a flag this Node's V8 takes at run time: a process sets it and collects, and V8 refuses nothing", () => {
    const module = new URL("./heap-headroom.ts", import.meta.url).href;
    const child = spawnSync(
      process.execPath,
      [
        "--expose-gc",
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `const { growHeapForForwarding } = await import(${JSON.stringify(module)});
         growHeapForForwarding();
         globalThis.gc();
         globalThis.gc();
         console.log("collected");`,
      ],
      { encoding: "utf8", timeout: CHILD_TIMEOUT_MS },
    );
    expect(child.stderr).toBe("");
    expect(child.stdout.trim()).toBe("collected");
    expect(child.status).toBe(0);
  });
});
