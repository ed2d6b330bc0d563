/**
 * Reads `--config FILE`: TOML (`.toml`) or JSON (`.json`) with the same keys
 * as the serve flags, in kebab-case or snake_case. Only parses and checks the
 * shape here; config.ts validates each value exactly as it validates flags,
 * so a file can never hold a value a flag would refuse.
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { parse as parseToml } from "smol-toml";
import { ConfigError } from "./config-error.ts";

/** A scalar as TOML or JSON gives it; config.ts coerces it like a flag's text. */
export type FileValue = string | number | boolean;

export interface ConfigFile {
  path: string;
  /** Keys in kebab-case (the flag names). */
  values: Record<string, FileValue>;
}

function parseText(path: string, text: string): unknown {
  const ext = extname(path).toLowerCase();
  try {
    if (ext === ".toml") return parseToml(text);
    if (ext === ".json") return JSON.parse(text);
  } catch (err) {
    // Both parsers put the position in their first line.
    const detail = (err instanceof Error ? err.message : String(err)).split("\n")[0];
    throw new ConfigError(`Cannot parse config file ${path}: ${detail}`);
  }
  throw new ConfigError(`Cannot read config file ${path}: expected a .toml or .json file`);
}

/**
 * Parses `path` and checks every key against `knownKeys` (flag names): an
 * unknown key is an error naming it, since a typo such as `prot = 9000`
 * silently ignored would leave the server on its default port.
 */
export function readConfigFile(path: string, knownKeys: readonly string[]): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`Cannot read config file ${path}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  const parsed = parseText(path, text);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`Invalid config file ${path}: expected a table of options at the top level`);
  }
  const values: Record<string, FileValue> = {};
  for (const [rawKey, value] of Object.entries(parsed)) {
    const key = rawKey.replaceAll("_", "-");
    if (!knownKeys.includes(key)) {
      throw new ConfigError(`Invalid config file ${path}: unknown key "${rawKey}" (see keyward --help for the options)`);
    }
    if (key in values) throw new ConfigError(`Invalid config file ${path}: key "${rawKey}" is given twice`);
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw new ConfigError(`Invalid ${rawKey} in ${path}: expected a string, number or boolean`);
    }
    values[key] = value;
  }
  return { path, values };
}
