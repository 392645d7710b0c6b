// --help from the option table: each option's flag, help line, default and environment variable,
// grouped under their headings, between the command's own usage text and its examples.
import type { Option, OptionTable } from "./options.js";

export interface HelpText {
  /** First line: what the command is. */
  title: string;
  /** The usage lines (without the "Usage:" heading). */
  usage: string[];
  /** Paragraphs after the usage, before the options. */
  about?: string;
  /** Paragraphs after the options, before the examples. */
  notes?: string;
  examples: string[];
}

const FLAG_COLUMN = 28;
/** Widest line of --help, characters. */
const WIDTH = 100;

/** `text` in lines of at most WIDTH - FLAG_COLUMN characters, broken at spaces. */
function wrap(text: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > WIDTH - FLAG_COLUMN) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function flagText(option: Option): string {
  if (option.flag === undefined) return option.env ?? "";
  const short = option.short ? `-${option.short}, ` : "";
  const value = option.kind === "switch" ? "" : ` ${option.value ?? "VALUE"}`;
  return `${short}--${option.flag}${value}`;
}

function defaultText(option: Option): string | undefined {
  if (option.defaultHelp !== undefined) return option.defaultHelp;
  if (option.default === undefined) return undefined;
  if (Array.isArray(option.default)) return option.default.length ? option.default.join(",") : undefined;
  if (option.kind === "switch") return option.default ? "on" : "off";
  return String(option.default);
}

function optionLines(option: Option): string[] {
  const flag = flagText(option);
  const fallback = defaultText(option);
  const [first = "", ...rest] = wrap(`${option.help}${fallback ? ` [${fallback}]` : ""}`);
  const indent = " ".repeat(FLAG_COLUMN);
  const lines = [
    flag.length < FLAG_COLUMN - 3
      ? `  ${flag.padEnd(FLAG_COLUMN - 2)}${first}`
      : `  ${flag}\n${indent}${first}`,
    ...rest.map((line) => `${indent}${line}`),
  ];
  const sources = [
    option.flag !== undefined && option.env ? `env ${option.env}` : "",
    option.file ? "config.json" : "",
  ].filter(Boolean);
  if (sources.length) lines.push(`${" ".repeat(FLAG_COLUMN)}(also ${sources.join(", ")})`);
  return lines;
}

/** The whole --help text. */
export function helpText(table: OptionTable, text: HelpText): string {
  const groups = new Map<string, Option[]>();
  for (const option of Object.values(table)) {
    const group = option.group ?? (option.flag === undefined ? "Tuning (environment only)" : "Options");
    groups.set(group, [...(groups.get(group) ?? []), option]);
  }
  const parts = [text.title, "", "Usage:", ...text.usage.map((line) => `  ${line}`), ""];
  if (text.about) parts.push(text.about.trimEnd(), "");
  for (const [group, options] of groups) {
    parts.push(`${group}:`);
    for (const option of options) parts.push(...optionLines(option));
    if (group === "Options") {
      parts.push(`  ${"-h, --help".padEnd(FLAG_COLUMN - 2)}this text`);
      parts.push(`  ${"--version".padEnd(FLAG_COLUMN - 2)}the version`);
    }
    parts.push("");
  }
  if (text.notes) parts.push(text.notes.trimEnd(), "");
  parts.push("Examples:", ...text.examples.map((line) => (line ? `  ${line}` : "")), "");
  return parts.join("\n");
}
