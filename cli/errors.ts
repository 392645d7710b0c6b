// The errors a person at a command line causes: a flag, a variable or a config file that cannot
// be used as given. Each has a stable code (tests and docs rely on it, never on the wording); the
// top-level catch (cli/main.ts) prints the message as one line and exits 2.

export type UsageErrorCode =
  /** A flag the command does not have. */
  | "USAGE_UNKNOWN_OPTION"
  /** A flag without its value, or a value given to a switch. */
  | "USAGE_BAD_OPTION"
  /** A subcommand (or positional argument) the command does not have. */
  | "USAGE_UNKNOWN_COMMAND"
  /** A value that does not parse: a port out of range, an unknown level, a malformed URL. */
  | "USAGE_BAD_VALUE"
  /** A setting that is required and given nowhere (flag, environment, config file). */
  | "USAGE_MISSING"
  /** Settings that do not go together (--cert without --tls-key). */
  | "USAGE_CONFLICT"
  /** The config file exists but cannot be read. */
  | "CONFIG_UNREADABLE"
  /** The config file is not a JSON object. */
  | "CONFIG_NOT_JSON"
  /** A key the config file may not have. */
  | "CONFIG_UNKNOWN_KEY"
  /** A value of the wrong JSON type ("listen": "10.0.0.2" where a list is wanted). */
  | "CONFIG_BAD_TYPE";

/**
 * A usage error. `code` is one of UsageErrorCode, or the code of the error a value parser
 * refused with (IpError's IP_BAD_ADDRESS, ...), kept so the cause stays visible.
 */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(
    readonly code: UsageErrorCode | (string & {}),
    message: string,
  ) {
    super(message);
  }
}

/** `error`'s own code when it has one (IpError, PoolError, ...), else `fallback`. */
export function codeOf(error: unknown, fallback: string): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : fallback;
}
