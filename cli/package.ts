// This package as its commands see it: where it is installed (from sources or from dist/ alike),
// its name and version from its package.json, and the commands' names.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The laptop's command. Every message that names it takes it from here. */
export const LAPTOP_PROGRAM = "tether";
/** The exit's command. */
export const EXIT_PROGRAM = "tether-exit";

/** The folder holding this package's package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** Name and version from package.json; "unknown" when it cannot be read. */
export function packageInfo(): { name: string; version: string } {
  try {
    const json = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as {
      name?: unknown;
      version?: unknown;
    };
    return {
      name: typeof json.name === "string" ? json.name : "unknown",
      version: typeof json.version === "string" ? json.version : "unknown",
    };
  } catch {
    return { name: "unknown", version: "unknown" };
  }
}

/** What --version prints. */
export function versionLine(program: string): string {
  const { name, version } = packageInfo();
  return `${program} ${version} (${name})\n`;
}

/** How a person runs the laptop's command from the registry: `npx PACKAGE` (its default command). */
export function laptopInvocation(): string {
  return `npx ${packageInfo().name}`;
}

/** How a person runs the exit's command from the registry. */
export function exitInvocation(): string {
  const { name } = packageInfo();
  return name === EXIT_PROGRAM ? `npx ${name}` : `npx -p ${name} ${EXIT_PROGRAM}`;
}
