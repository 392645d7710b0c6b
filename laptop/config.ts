// The laptop's settings: one option table (cli/options.ts) from which the flags, the environment,
// ~/.config/tether/config.json and --help all come, and the precedence as one expression in
// resolveConfig: defaults < config file < environment < flags.
import { stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../cli/errors.js";
import { list, readConfigObject, readEnv, text, toggle, type Values } from "../cli/options.js";
import { EXIT_PROGRAM } from "../cli/package.js";
import { integer, interfaceName, ipAddresses, nonEmpty, port, strings, url } from "../cli/values.js";
import { MAX_PACKETS_PER_FRAME } from "../protocol/limits.js";
import { openModeProblem } from "./key-file.js";
import { readFileNoFollow } from "./safe-write.js";

export interface LaptopConfig {
  /** The exit's URL, wss://HOST[:PORT]; its PWA is what the phone opens. */
  exit: string;
  /** The client key, NAME:SECRET, from `tether-exit keys add NAME`. */
  key: string;
  /** Port of the wss listener for the phone. */
  port: number;
  /** Addresses to listen on; empty: every non-loopback IPv4 address of this machine. */
  listen: string[];
  /** Address the phone should dial (put in the pairing link); empty: the first listen address. */
  advertise: string;
  tunName: string;
  /** Point the system's DNS at the exit's servers while running. */
  dns: boolean;
  /** Extra origins allowed to open the relay (the exit's PWA origin is always allowed). */
  allowOrigins: string[];
  configDir: string;
  /** Packets per DATA frame at most; 1 turns batching off (for measurements). */
  maxPacketsPerFrame: number;
}

/**
 * The config folder when root runs tether without sudo: tether then becomes `nobody`, who has no
 * home and cannot enter root's. A folder of its own under /var/lib (not /var/lib/tether, which
 * holds the privileged helper's root-only state and must not be the unprivileged account's).
 */
export const HOMELESS_CONFIG_DIR = "/var/lib/tether-config";

export const LAPTOP_DEFAULTS: Omit<LaptopConfig, "exit" | "key" | "configDir"> = {
  maxPacketsPerFrame: MAX_PACKETS_PER_FRAME,
  port: 7443,
  listen: [],
  advertise: "",
  tunName: "tether0",
  dns: true,
  allowOrigins: [],
};

/** Every setting of `tether`: its flag, variable, whether config.json may hold it, parser, help. */
export const LAPTOP_OPTIONS = {
  exit: text({
    flag: "exit",
    env: "TETHER_EXIT",
    file: true,
    value: "URL",
    help: "the exit server, wss://HOST[:PORT]",
    parse: url(["wss:", "ws:", "https:", "http:"], "wss://exit.example.com:8443"),
  }),
  key: text({
    flag: "key",
    env: "TETHER_KEY",
    file: true,
    value: "NAME:SECRET",
    help: `this laptop's key from \`${EXIT_PROGRAM} keys add\` (on the command line others see it in ps: prefer --key-file)`,
    parse: nonEmpty,
  }),
  keyFile: text({
    flag: "key-file",
    env: "TETHER_KEY_FILE",
    file: true,
    value: "FILE",
    help: "a file holding the key (one line, NAME:SECRET); only its owner may read it (chmod 600)",
    parse: nonEmpty,
  }),
  port: text({
    flag: "port",
    env: "TETHER_PORT",
    file: true,
    value: "PORT",
    help: "port the phone connects to",
    default: LAPTOP_DEFAULTS.port,
    parse: port,
  }),
  listen: list({
    flag: "listen",
    env: "TETHER_LISTEN",
    file: true,
    value: "ADDRS",
    help: "addresses to listen on, comma-separated",
    default: LAPTOP_DEFAULTS.listen,
    defaultHelp: "all but loopback",
    parse: ipAddresses,
  }),
  advertise: text({
    flag: "advertise",
    env: "TETHER_ADVERTISE",
    file: true,
    value: "ADDR",
    help: "address put in the pairing link",
    defaultHelp: "first listen address",
    parse: nonEmpty,
  }),
  tunName: text({
    flag: "tun-name",
    env: "TETHER_TUN",
    file: true,
    value: "NAME",
    help: "TUN interface name",
    default: LAPTOP_DEFAULTS.tunName,
    parse: interfaceName,
  }),
  dns: toggle({
    flag: "no-dns",
    negated: true,
    env: "TETHER_DNS",
    file: true,
    help: 'leave the system\'s DNS alone (TETHER_DNS=0, "dns": false)',
    default: LAPTOP_DEFAULTS.dns,
    defaultHelp: "",
  }),
  allowOrigins: list({
    flag: "allow-origin",
    env: "TETHER_ALLOW_ORIGINS",
    file: true,
    value: "URL",
    help: "also accept the relay page from this origin",
    default: LAPTOP_DEFAULTS.allowOrigins,
    parse: strings,
  }),
  configDir: text({
    flag: "config-dir",
    env: "TETHER_CONFIG_DIR",
    value: "DIR",
    help: "certificate, pairing secret, config.json",
    defaultHelp: `~/.config/tether; as root without sudo ${HOMELESS_CONFIG_DIR}`,
    parse: nonEmpty,
  }),
  maxPacketsPerFrame: text({
    env: "TETHER_MAX_PACKETS_PER_FRAME",
    value: "N",
    help: "packets per message at most; 1 turns batching off",
    default: LAPTOP_DEFAULTS.maxPacketsPerFrame,
    parse: integer(1, MAX_PACKETS_PER_FRAME),
  }),
};

export type PartialConfig = Partial<Values<typeof LAPTOP_OPTIONS>>;

/**
 * Where the certificate, pairing secret and config.json live unless --config-dir says:
 * TETHER_CONFIG_DIR, else ~/.config/tether of `home` (under sudo, the home of the user who ran it,
 * laptop/privilege-drop.ts, since tether runs as that user once it has given root up), else, for
 * an account without a home (`homeless`: root without sudo becomes nobody), HOMELESS_CONFIG_DIR.
 */
export function defaultConfigDir(env: NodeJS.ProcessEnv, home?: string, homeless = false): string {
  if (env.TETHER_CONFIG_DIR) return env.TETHER_CONFIG_DIR;
  if (homeless && home === undefined) return HOMELESS_CONFIG_DIR;
  // sudo keeps no XDG_CONFIG_HOME of the user's; one set here is the invoker's own choice.
  return join(env.XDG_CONFIG_HOME || join(home ?? homedir(), ".config"), "tether");
}

export type ConfigErrorCode = "CONFIG_INVALID" | "PORT_IN_USE" | "NO_ADDRESS" | (string & {});

/** A setting that cannot be used (a usage error: exit code 2). */
export class ConfigError extends UsageError {
  override name = "ConfigError";
  constructor(message: string, code: ConfigErrorCode = "CONFIG_INVALID") {
    super(code, message);
  }
}

/** config.json in `dir`, validated against the table; {} when there is none. */
export async function readConfigFile(dir: string): Promise<PartialConfig> {
  const path = join(dir, "config.json");
  let text: string | undefined;
  try {
    // Read by root in a folder its user owns (laptop/config-owner.ts): never through a link.
    text = await readFileNoFollow(path);
  } catch (error) {
    throw new UsageError("CONFIG_UNREADABLE", `cannot read ${path}: ${(error as Error).message}`);
  }
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError("CONFIG_NOT_JSON", `${path} is not JSON: ${(error as Error).message}`);
  }
  const config = readConfigObject(LAPTOP_OPTIONS, parsed, path);
  if (config.key !== undefined) {
    const problem = openModeProblem(path, (await stat(path)).mode);
    if (problem) throw new UsageError("KEY_FILE_MODE", problem);
  }
  return config;
}

export function configFromEnv(env: NodeJS.ProcessEnv): PartialConfig {
  return readEnv(LAPTOP_OPTIONS, env);
}

/** defaults < file < environment < flags; then the settings nothing can default checked. */
export function resolveConfig(
  configDir: string,
  file: PartialConfig,
  env: PartialConfig,
  flags: PartialConfig,
): LaptopConfig {
  const merged = { ...LAPTOP_DEFAULTS, ...file, ...env, ...flags, configDir };
  if (!merged.exit) {
    throw new UsageError(
      "USAGE_MISSING",
      'which exit? Pass --exit wss://HOST[:PORT] (or TETHER_EXIT, or "exit" in config.json)',
    );
  }
  if (!merged.key) {
    throw new UsageError(
      "USAGE_MISSING",
      `no client key: pass --key NAME:SECRET from \`${EXIT_PROGRAM} keys add NAME\``,
    );
  }
  return { ...merged, exit: merged.exit, key: merged.key, advertise: merged.advertise ?? "" };
}
