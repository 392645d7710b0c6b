// What `npm run build:node` compiles into dist/node, and so what the package and the exit's image
// carry: the product's own modules, never a test, a test helper, the benchmark or the e2e harness.
// tsc's own listing is the truth here, because a production file that imports a helper pulls it
// into the build whatever tsconfig.node.json excludes.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..");
/** Folders whose modules run in the laptop or the exit (tools/ holds the build's own scripts). */
const SHIPPED_FOLDERS = ["protocol", "tunnel", "tun", "cli", "laptop", "exit", "tools"];
/** Files that only tests may import, wherever they sit. */
const TEST_ONLY = /(\.test\.ts$|(^|\/)test-[^/]*\.ts$|(^|\/)testing\.ts$|fuzz-inputs\.ts$)/;

function builtSources(): string[] {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const out = execFileSync(process.execPath, [tsc, "-p", "tsconfig.node.json", "--listFilesOnly"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return out
    .split("\n")
    .filter((line) => line !== "" && !line.includes("/node_modules/"))
    .map((file) => relative(ROOT, file));
}

describe("the Node build", () => {
  const sources = builtSources();

  it("compiles the laptop's and the exit's entry points", () => {
    expect(sources).toContain("laptop/cli.ts");
    expect(sources).toContain("exit/cli.ts");
  });

  it("compiles only the shipped folders: no benchmark, e2e harness or shared test helper", () => {
    const outside = sources.filter((file) => !SHIPPED_FOLDERS.includes(file.split("/")[0] ?? ""));
    expect(outside).toEqual([]);
  });

  it("compiles no test and no test-only helper", () => {
    expect(sources.filter((file) => TEST_ONLY.test(file))).toEqual([]);
  });
});
