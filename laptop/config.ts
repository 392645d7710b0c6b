// The laptop's settings: defaults < config file (~/.config/tether/config.json) < environment <
// flags, in one visible expression in resolveConfig.
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { isIpAddress } from "../protocol/ip.js";
import { MAX_PACKETS_PER_FRAME } from "../protocol/limits.js";

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

export const LAPTOP_DEFAULTS: Omit<LaptopConfig, "exit" | "key" | "configDir"> = {
  maxPacketsPerFrame: MAX_PACKETS_PER_FRAME,
  port: 7443,
  listen: [],
  advertise: "",
  tunName: "tether0",
  dns: true,
  allowOrigins: [],
};

export type PartialConfig = Partial<LaptopConfig>;

export function defaultConfigDir(env: NodeJS.ProcessEnv): string {
  return env.TETHER_CONFIG_DIR || join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "tether");
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

export async function readConfigFile(dir: string): Promise<PartialConfig> {
  const path = join(dir, "config.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new Error("not an object");
    return parsed as PartialConfig;
  } catch (error) {
    throw new ConfigError(`${path} is not a JSON object: ${(error as Error).message}`);
  }
}

const list = (text: string | undefined) =>
  text === undefined
    ? undefined
    : text
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);

export function configFromEnv(env: NodeJS.ProcessEnv): PartialConfig {
  const config: PartialConfig = {
    exit: env.TETHER_EXIT,
    key: env.TETHER_KEY,
    port: env.TETHER_PORT ? Number(env.TETHER_PORT) : undefined,
    listen: list(env.TETHER_LISTEN),
    advertise: env.TETHER_ADVERTISE,
    tunName: env.TETHER_TUN,
    dns: env.TETHER_DNS === undefined ? undefined : env.TETHER_DNS !== "0" && env.TETHER_DNS !== "false",
    allowOrigins: list(env.TETHER_ALLOW_ORIGINS),
    maxPacketsPerFrame: env.TETHER_MAX_PACKETS_PER_FRAME
      ? Number(env.TETHER_MAX_PACKETS_PER_FRAME)
      : undefined,
  };
  return withoutUndefined(config);
}

export function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** defaults < file < environment < flags; then checked. */
export function resolveConfig(
  configDir: string,
  file: PartialConfig,
  env: PartialConfig,
  flags: PartialConfig,
): LaptopConfig {
  const merged = { ...LAPTOP_DEFAULTS, configDir, ...file, ...env, ...flags };
  if (!merged.exit)
    throw new ConfigError("which exit? Pass --exit wss://HOST[:PORT] (or TETHER_EXIT, or config.json)");
  if (!merged.key)
    throw new ConfigError("no client key: pass --key NAME:SECRET from `tether-exit keys add NAME`");
  if (!Number.isInteger(merged.port) || merged.port < 1 || merged.port > 65535) {
    throw new ConfigError(`--port wants 1 to 65535: ${merged.port}`);
  }
  if (
    !Number.isInteger(merged.maxPacketsPerFrame) ||
    merged.maxPacketsPerFrame < 1 ||
    merged.maxPacketsPerFrame > MAX_PACKETS_PER_FRAME
  ) {
    throw new ConfigError(
      `TETHER_MAX_PACKETS_PER_FRAME wants 1 to ${MAX_PACKETS_PER_FRAME}: ${merged.maxPacketsPerFrame}`,
    );
  }
  if (!Array.isArray(merged.listen)) {
    throw new ConfigError(
      `listen wants a list of addresses, like ["192.168.43.2"]: ${JSON.stringify(merged.listen)}`,
    );
  }
  for (const address of merged.listen) {
    if (!isIpAddress(address)) throw new ConfigError(`listen: not an IP address: ${JSON.stringify(address)}`);
  }
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(merged.tunName))
    throw new ConfigError(`bad TUN name: ${merged.tunName}`);
  return merged as LaptopConfig;
}
