// Structured JSON logs, one line per event. Secrets never go in: keys, nonces, macs and resume
// tokens are not logged anywhere, only client names and addresses.
import { type Logger as PinoLogger, pino } from "pino";

export type Logger = PinoLogger;

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "tether-exit" }, timestamp: pino.stdTimeFunctions.isoTime });
}
