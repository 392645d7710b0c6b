// A command line as a table: each option once, with its flag, its environment variable, whether a
// config file may set it, its default, its parser and its help line. Parsing argv, reading the
// environment, validating a config file and writing --help all come from the table, so the four
// cannot disagree. Precedence is the caller's one expression: { ...defaults, ...file, ...env, ...flags }.
import { parseArgs } from "node:util";
import { codeOf, UsageError } from "./errors.js";

interface Common {
  /** Long flag without its dashes; absent: not on the command line (environment or file only). */
  flag?: string;
  short?: string;
  /** Environment variable; absent: none. */
  env?: string;
  /** May the config file set it (under the option's key)? */
  file?: boolean;
  /** Placeholder for the value in --help, e.g. PORT. */
  value?: string;
  help: string;
  /** The default as --help shows it; absent: String(default), or nothing. */
  defaultHelp?: string;
  /** Heading the option is listed under in --help; absent: "Options". */
  group?: string;
}

/** One text value: `--port 7443`, TETHER_PORT=7443, "port": 7443. */
export interface TextOption<T> extends Common {
  kind: "text";
  default?: T;
  /** The text as the value; throws UsageError naming `where` (the flag, variable or file key). */
  parse(text: string, where: string): T;
}

/** A list: comma-separated (and repeatable) on the command line and in the environment, a JSON array in the file. */
export interface ListOption<T> extends Common {
  kind: "list";
  default?: T;
  parse(items: string[], where: string): T;
}

/** On or off: `--json`; `--no-dns` with `negated`; TETHER_DNS=0|1|false|true; "dns": false. */
export interface SwitchOption extends Common {
  kind: "switch";
  default?: boolean;
  /** The flag turns the setting off (`--no-dns` for `dns`). */
  negated?: boolean;
}

export type Option = TextOption<unknown> | ListOption<unknown> | SwitchOption;
export type OptionTable = Record<string, Option>;

/** The value type of each option of a table. */
export type Values<Table extends OptionTable> = {
  [K in keyof Table]: Table[K] extends SwitchOption
    ? boolean
    : Table[K] extends TextOption<infer T>
      ? T
      : Table[K] extends ListOption<infer T>
        ? T
        : never;
};

/** Typed helpers, so a table entry infers its value type from its parser. */
export const text = <T>(option: Omit<TextOption<T>, "kind">): TextOption<T> => ({ kind: "text", ...option });
export const list = <T>(option: Omit<ListOption<T>, "kind">): ListOption<T> => ({ kind: "list", ...option });
export const toggle = (option: Omit<SwitchOption, "kind">): SwitchOption => ({ kind: "switch", ...option });

/** The table's defaults, for the left end of the precedence expression. */
export function defaultsOf<Table extends OptionTable>(table: Table): Partial<Values<Table>> {
  const out: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(table))
    if (option.default !== undefined) out[key] = option.default;
  return out as Partial<Values<Table>>;
}

function splitList(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

const TRUE_WORDS = ["1", "true", "yes", "on"];
const FALSE_WORDS = ["0", "false", "no", "off"];

function switchText(text: string, where: string): boolean {
  const word = text.trim().toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  throw new UsageError("USAGE_BAD_VALUE", `${where} wants 1 or 0 (true or false): ${JSON.stringify(text)}`);
}

/** Runs a parser, turning any coded error (IpError, PoolError...) into a UsageError that keeps its code. */
function parsing<T>(where: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (error instanceof Error) {
      throw new UsageError(codeOf(error, "USAGE_BAD_VALUE"), `${where}: ${error.message}`);
    }
    throw error;
  }
}

function fromText(option: Option, text: string, where: string): unknown {
  if (option.kind === "switch") return switchText(text, where);
  if (option.kind === "list") return parsing(where, () => option.parse(splitList(text), where));
  return parsing(where, () => option.parse(text, where));
}

export interface CommandLine<Table extends OptionTable> {
  flags: Partial<Values<Table>>;
  positionals: string[];
  help: boolean;
  version: boolean;
}

const PARSE_ARGS_CODES: Record<string, string> = {
  ERR_PARSE_ARGS_UNKNOWN_OPTION: "USAGE_UNKNOWN_OPTION",
  ERR_PARSE_ARGS_INVALID_OPTION_VALUE: "USAGE_BAD_OPTION",
  ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL: "USAGE_UNKNOWN_COMMAND",
};

/** The flags of argv (each parsed), the positionals, and whether --help or --version was asked for. */
export function readArgv<Table extends OptionTable>(
  table: Table,
  argv: readonly string[],
): CommandLine<Table> {
  const spec: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {
    help: { type: "boolean", short: "h" },
    version: { type: "boolean" },
  };
  for (const option of Object.values(table)) {
    if (option.flag === undefined) continue;
    spec[option.flag] = {
      type: option.kind === "switch" ? "boolean" : "string",
      ...(option.short ? { short: option.short } : {}),
      ...(option.kind === "list" ? { multiple: true } : {}),
    };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: spec, allowPositionals: true, strict: true });
  } catch (error) {
    const code = PARSE_ARGS_CODES[codeOf(error, "")] ?? "USAGE_BAD_OPTION";
    // Node's own sentence, up to its advice on positionals, and ours on where the flags are listed.
    const message = (error as Error).message.split(/\n|\. To specify/)[0]!;
    throw new UsageError(code, `${message} (--help lists the options)`);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const flags: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(table)) {
    if (option.flag === undefined) continue;
    const given = values[option.flag];
    if (given === undefined) continue;
    const where = `--${option.flag}`;
    if (option.kind === "switch") flags[key] = option.negated ? !given : Boolean(given);
    else if (option.kind === "list") {
      const items = (given as string[]).flatMap(splitList);
      flags[key] = parsing(where, () => option.parse(items, where));
    } else flags[key] = parsing(where, () => option.parse(given as string, where));
  }
  return {
    flags: flags as Partial<Values<Table>>,
    positionals: parsed.positionals,
    help: values.help === true,
    version: values.version === true,
  };
}

/** The options set in the environment (an empty variable counts as unset), each parsed. */
export function readEnv<Table extends OptionTable>(
  table: Table,
  env: Readonly<Record<string, string | undefined>>,
): Partial<Values<Table>> {
  const out: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(table)) {
    if (option.env === undefined) continue;
    const text = env[option.env];
    if (text === undefined || text === "") continue;
    out[key] = fromText(option, text, option.env);
  }
  return out as Partial<Values<Table>>;
}

/**
 * A config file's object, checked against the table: only keys the file may set, each of the
 * JSON type its kind wants (text: a string or a number; list: an array of strings; switch: a
 * boolean), then parsed like the same value on the command line.
 */
export function readConfigObject<Table extends OptionTable>(
  table: Table,
  object: unknown,
  path: string,
): Partial<Values<Table>> {
  if (typeof object !== "object" || object === null || Array.isArray(object)) {
    throw new UsageError("CONFIG_NOT_JSON", `${path} must hold a JSON object, like {"exit": "wss://..."}`);
  }
  const allowed = Object.entries(table).filter(([, option]) => option.file);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    const option = table[key];
    if (!option?.file) {
      throw new UsageError(
        "CONFIG_UNKNOWN_KEY",
        `${path}: unknown setting ${JSON.stringify(key)}; it may hold ${allowed.map(([k]) => JSON.stringify(k)).join(", ")}`,
      );
    }
    const where = `${path}: "${key}"`;
    const got = Array.isArray(value)
      ? "a list"
      : value === null
        ? "null"
        : `the ${typeof value} ${JSON.stringify(value)}`;
    if (option.kind === "switch") {
      if (typeof value !== "boolean")
        throw new UsageError("CONFIG_BAD_TYPE", `${where} wants true or false, got ${got}`);
      out[key] = value;
    } else if (option.kind === "list") {
      if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
        throw new UsageError(
          "CONFIG_BAD_TYPE",
          `${where} wants a list of strings, like [${JSON.stringify(option.value ?? "...")}], got ${got}`,
        );
      }
      out[key] = parsing(where, () => option.parse(value as string[], where));
    } else {
      if (typeof value !== "string" && typeof value !== "number") {
        throw new UsageError("CONFIG_BAD_TYPE", `${where} wants a string or a number, got ${got}`);
      }
      out[key] = parsing(where, () => option.parse(String(value), where));
    }
  }
  return out as Partial<Values<Table>>;
}
