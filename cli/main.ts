// The one top-level catch of both commands: whatever a command's main throws is printed as one
// line, "PROGRAM: message [CODE]", and ends the process with 2 for a usage error (a flag, a
// variable, a config file, a missing prerequisite the person can fix), 1 for anything else.
import { UsageError } from "./errors.js";

/** Exit code of a usage error. */
export const EXIT_USAGE = 2;
/** Exit code of any other failure. */
export const EXIT_FAILURE = 1;

/** The one line printed for an error, control characters and line breaks flattened. */
export function errorLine(program: string, error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error))
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
    .replace(/[\u0000-\u001f\u007f]+/g, " ")
    .trim();
  const code = (error as { code?: unknown } | undefined)?.code;
  return `${program}: ${message}${typeof code === "string" ? ` [${code}]` : ""}\n`;
}

export function exitCodeOf(error: unknown): number {
  return error instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
}

/** Runs `main`, exits with what it returns (0 when nothing), or prints its error as one line. */
export function runMain(program: string, main: () => Promise<number | undefined>): void {
  main().then(
    (code) => process.exit(code ?? 0),
    (error: unknown) => {
      process.stderr.write(errorLine(program, error));
      process.exit(exitCodeOf(error));
    },
  );
}
