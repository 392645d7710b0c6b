import { describe, expect, it } from "vitest";
import { UsageError } from "./errors.js";
import { EXIT_FAILURE, EXIT_USAGE, errorLine, exitCodeOf } from "./main.js";

describe("the top-level catch", () => {
  it("prints one line with the program, the message and the code", () => {
    expect(errorLine("tether", new UsageError("USAGE_BAD_VALUE", "--port wants 1 to 65535"))).toBe(
      "tether: --port wants 1 to 65535 [USAGE_BAD_VALUE]\n",
    );
  });

  it("flattens line breaks and control characters (a peer's string cannot move the cursor)", () => {
    const line = errorLine("tether", new Error("two\nlines\u001b[2J and a bell\u0007"));
    expect(line).toBe("tether: two lines [2J and a bell\n");
    expect(line.trimEnd().split("\n")).toHaveLength(1);
  });

  it("exits 2 for a usage error and 1 for anything else", () => {
    expect(exitCodeOf(new UsageError("USAGE_MISSING", "x"))).toBe(EXIT_USAGE);
    expect(exitCodeOf(new Error("x"))).toBe(EXIT_FAILURE);
    expect(exitCodeOf("a string")).toBe(EXIT_FAILURE);
  });
});
