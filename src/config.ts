/**
 * The one module that reads the environment. Every server option is a flag
 * with a `KEYWARD_*` twin; flags win over env, env over defaults. The table
 * below also renders `--help` and README's configuration section.
 */
import { parseArgs } from "node:util";

type OptionKind = "string" | "boolean" | "port" | "integer" | "enum";

interface OptionSpec {
  flag: string;
  env: string;
  kind: OptionKind;
  default?: string | number | boolean;
  values?: readonly string[];
  min?: number;
  max?: number;
  help: string;
  /** Secrets are masked when the effective config is printed. */
  secret?: boolean;
}

export const SERVE_OPTIONS = [
  { flag: "port", env: "KEYWARD_PORT", kind: "port", default: 8080, help: "TCP port to listen on (0 picks a free one)" },
  { flag: "host", env: "KEYWARD_HOST", kind: "string", default: "0.0.0.0", help: "Address to bind" },
  { flag: "data-dir", env: "KEYWARD_DATA_DIR", kind: "string", default: "./keyward-data", help: "Directory for keyward.db (and master.key when generated)" },
  { flag: "master-key-file", env: "KEYWARD_MASTER_KEY_FILE", kind: "string", help: "File holding the base64 master key (32 bytes)" },
  { flag: "allow-http-upstreams", env: "KEYWARD_ALLOW_HTTP_UPSTREAMS", kind: "boolean", default: false, help: "Allow plain-http provider base URLs (local model servers, tests)" },
  { flag: "log-format", env: "KEYWARD_LOG_FORMAT", kind: "enum", values: ["json", "pretty"], default: "json", help: "Log line format" },
  { flag: "log-level", env: "KEYWARD_LOG_LEVEL", kind: "enum", values: ["debug", "info", "warn", "error"], default: "info", help: "Lowest level logged" },
  { flag: "upstream-timeout", env: "KEYWARD_UPSTREAM_TIMEOUT", kind: "integer", default: 60, min: 1, max: 3600, help: "Seconds to wait for an upstream's response headers (504 after)" },
  { flag: "max-body-size", env: "KEYWARD_MAX_BODY_SIZE", kind: "integer", default: 20 * 1024 * 1024, min: 1024, max: 1024 * 1024 * 1024, help: "Largest request body in bytes (413 above)" },
  { flag: "shutdown-timeout", env: "KEYWARD_SHUTDOWN_TIMEOUT", kind: "integer", default: 30, min: 0, max: 3600, help: "Seconds in-flight requests get to finish after SIGTERM" },
  { flag: "default-max-tokens", env: "KEYWARD_DEFAULT_MAX_TOKENS", kind: "integer", default: 4096, min: 1, max: 10_000_000, help: "Output cap reserved (and set upstream) for budgeted requests that give none" },
  { flag: "log-retention-days", env: "KEYWARD_LOG_RETENTION_DAYS", kind: "integer", default: 90, min: 0, max: 36500, help: "Days request-log rows are kept (0 keeps them forever)" },
  { flag: "metrics-token", env: "KEYWARD_METRICS_TOKEN", kind: "string", help: "Bearer token required on /metrics (open when unset)", secret: true },
] as const satisfies readonly OptionSpec[];

/** Secrets read from the environment only: a flag would show them in `ps`. */
export const SECRET_ENV = [
  { env: "KEYWARD_MASTER_KEY", help: "Base64 master key (32 bytes); wins over the key file" },
  { env: "KEYWARD_ADMIN_TOKEN", help: "A kwa_ token registered as root admin at start (see `keyward admin-token generate`)" },
] as const;

export interface ServeConfig {
  port: number;
  host: string;
  dataDir: string;
  masterKeyFile?: string;
  masterKey?: string;
  adminToken?: string;
  allowHttpUpstreams: boolean;
  logFormat: "json" | "pretty";
  logLevel: "debug" | "info" | "warn" | "error";
  /** Milliseconds. */
  upstreamTimeoutMs: number;
  maxBodyBytes: number;
  /** Milliseconds. */
  shutdownTimeoutMs: number;
  defaultMaxTokens: number;
  logRetentionDays: number;
  metricsToken?: string;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export type Env = Record<string, string | undefined>;

function coerce(spec: OptionSpec, raw: string | boolean, source: string): string | number | boolean {
  if (spec.kind === "boolean") {
    if (typeof raw === "boolean") return raw;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off|)$/i.test(raw)) return false;
    throw new ConfigError(`Invalid ${source}: expected true or false, got "${raw}"`);
  }
  const text = String(raw);
  if (spec.kind === "string") {
    if (!text) throw new ConfigError(`Invalid ${source}: value is empty`);
    return text;
  }
  if (spec.kind === "enum") {
    if (!spec.values?.includes(text)) {
      throw new ConfigError(`Invalid ${source}: expected one of ${spec.values?.join(", ")}, got "${text}"`);
    }
    return text;
  }
  const min = spec.kind === "port" ? 0 : (spec.min ?? 0);
  const max = spec.kind === "port" ? 65535 : (spec.max ?? Number.MAX_SAFE_INTEGER);
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ConfigError(`Invalid ${source}: expected an integer from ${min} to ${max}, got "${text}"`);
  }
  return Number(text);
}

/** Reads the value of one option: flag, then env, then default. */
function resolve(spec: OptionSpec, flags: Record<string, string | boolean | undefined>, env: Env) {
  const flagValue = flags[spec.flag];
  if (flagValue !== undefined) return coerce(spec, flagValue, `--${spec.flag}`);
  const envValue = env[spec.env];
  if (envValue !== undefined && envValue !== "") return coerce(spec, envValue, spec.env);
  return spec.default;
}

/** Options for `node:util` parseArgs built from a spec table. */
export function parseArgsOptions(specs: readonly OptionSpec[]) {
  return Object.fromEntries(
    specs.map((s) => [s.flag, { type: s.kind === "boolean" ? ("boolean" as const) : ("string" as const) }]),
  );
}

/** Parses flags with friendly one-line errors instead of parseArgs' own. */
export function parseFlags(
  args: string[],
  options: Record<string, { type: "string" | "boolean"; short?: string }>,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals };
  } catch (err) {
    const message = (err as Error).message;
    const unknown = /Unknown option '([^']+)'/.exec(message);
    if (unknown) throw new ConfigError(`Unknown option ${unknown[1]} (see --help)`);
    const needsValue = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(message);
    if (needsValue) throw new ConfigError(`Missing value for ${needsValue[1]}`);
    throw new ConfigError(message.split("\n")[0] ?? message);
  }
}

export function loadServeConfig(flags: Record<string, string | boolean | undefined>, env: Env): ServeConfig {
  const value = (flag: (typeof SERVE_OPTIONS)[number]["flag"]) => {
    const spec = SERVE_OPTIONS.find((s) => s.flag === flag) as OptionSpec;
    return resolve(spec, flags, env);
  };
  return {
    port: value("port") as number,
    host: value("host") as string,
    dataDir: value("data-dir") as string,
    masterKeyFile: value("master-key-file") as string | undefined,
    masterKey: env.KEYWARD_MASTER_KEY || undefined,
    adminToken: env.KEYWARD_ADMIN_TOKEN || undefined,
    allowHttpUpstreams: value("allow-http-upstreams") as boolean,
    logFormat: value("log-format") as ServeConfig["logFormat"],
    logLevel: value("log-level") as ServeConfig["logLevel"],
    upstreamTimeoutMs: (value("upstream-timeout") as number) * 1000,
    maxBodyBytes: value("max-body-size") as number,
    shutdownTimeoutMs: (value("shutdown-timeout") as number) * 1000,
    defaultMaxTokens: value("default-max-tokens") as number,
    logRetentionDays: value("log-retention-days") as number,
    metricsToken: value("metrics-token") as string | undefined,
  };
}

/** Rows for `--help` and README: flag, env, default, description. */
export function optionRows(): string[][] {
  return SERVE_OPTIONS.map((s) => [
    `--${s.flag}${s.kind === "boolean" ? "" : " <value>"}`,
    s.env,
    "default" in s && s.default !== undefined ? String(s.default) : "",
    s.help,
  ]);
}

/** The process environment; main.ts passes it on so nothing else reads it. */
export function readEnv(): Env {
  return process.env;
}
