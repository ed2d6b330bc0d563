/**
 * The one module that reads the environment. Every server option is a flag
 * with a `KEYWARD_*` twin and a key in the optional `--config` file; flags win
 * over env, env over the file, the file over defaults. The table below also
 * renders `--help` and README's configuration section.
 */
import { parseArgs } from "node:util";
import { postgresConfig, redactPostgresUrl } from "./config-database.ts";
import { ConfigError } from "./config-error.ts";
import { readConfigFile, type ConfigFile, type FileValue } from "./config-file.ts";
import type { PostgresOptions } from "./db/pg/connect.ts";

export { ConfigError } from "./config-error.ts";

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
  /** Values that may hold a secret (a URL's password) are printed as this gives them. */
  redact?: (value: string) => string;
  /** Not accepted inside a config file (`config` itself). */
  notInFile?: boolean;
}

export const SERVE_OPTIONS = [
  {
    flag: "config",
    env: "KEYWARD_CONFIG",
    kind: "string",
    help: "TOML or JSON file with the same keys as these flags (flags and env win over it)",
    notInFile: true,
  },
  { flag: "port", env: "KEYWARD_PORT", kind: "port", default: 8080, help: "TCP port to listen on (0 picks a free one)" },
  { flag: "host", env: "KEYWARD_HOST", kind: "string", default: "0.0.0.0", help: "Address to bind" },
  { flag: "data-dir", env: "KEYWARD_DATA_DIR", kind: "string", default: "./keyward-data", help: "Directory for keyward.db (and master.key when generated)" },
  { flag: "master-key-file", env: "KEYWARD_MASTER_KEY_FILE", kind: "string", help: "File holding the base64 master key (32 bytes)" },
  {
    flag: "database-url",
    env: "KEYWARD_DATABASE_URL",
    kind: "string",
    help: "PostgreSQL instead of SQLite in --data-dir: postgres://user@host:5432/db[?sslmode=…] (TLS verified by default, except on loopback)",
    redact: redactPostgresUrl,
  },
  {
    flag: "database-password-file",
    env: "KEYWARD_DATABASE_PASSWORD_FILE",
    kind: "string",
    help: "File holding the PostgreSQL password (trimmed; wins over the URL's)",
  },
  {
    flag: "database-ca-file",
    env: "KEYWARD_DATABASE_CA_FILE",
    kind: "string",
    help: "PEM CA certificate to verify PostgreSQL's server certificate with (like sslrootcert)",
  },
  {
    flag: "allow-http-upstreams",
    env: "KEYWARD_ALLOW_HTTP_UPSTREAMS",
    kind: "boolean",
    default: false,
    help: "Allow plain-http provider base URLs (local model servers, tests)",
  },
  { flag: "tls-cert", env: "KEYWARD_TLS_CERT", kind: "string", help: "PEM certificate (chain) file: serve HTTPS; re-read on SIGHUP" },
  { flag: "tls-key", env: "KEYWARD_TLS_KEY", kind: "string", help: "PEM private key file of --tls-cert; re-read on SIGHUP" },
  {
    flag: "trust-proxy",
    env: "KEYWARD_TRUST_PROXY",
    kind: "boolean",
    default: false,
    help: "Behind one reverse proxy: the client address is the last X-Forwarded-For entry",
  },
  {
    flag: "log-format",
    env: "KEYWARD_LOG_FORMAT",
    kind: "enum",
    values: ["auto", "json", "pretty"],
    default: "auto",
    help: "Log line format (auto: pretty on a terminal, JSON otherwise)",
  },
  {
    flag: "log-level",
    env: "KEYWARD_LOG_LEVEL",
    kind: "enum",
    values: ["debug", "info", "warn", "error"],
    default: "info",
    help: "Lowest level logged (access lines are info)",
  },
  {
    flag: "upstream-timeout",
    env: "KEYWARD_UPSTREAM_TIMEOUT",
    kind: "integer",
    default: 60,
    min: 1,
    max: 3600,
    help: "Seconds to wait for an upstream's response headers (504 after)",
  },
  {
    flag: "max-body-size",
    env: "KEYWARD_MAX_BODY_SIZE",
    kind: "integer",
    default: 20 * 1024 * 1024,
    min: 1024,
    max: 1024 * 1024 * 1024,
    help: "Largest request body in bytes (413 above)",
  },
  {
    flag: "shutdown-timeout",
    env: "KEYWARD_SHUTDOWN_TIMEOUT",
    kind: "integer",
    default: 30,
    min: 0,
    max: 3600,
    help: "Seconds in-flight requests get to finish after SIGTERM",
  },
  {
    flag: "default-max-tokens",
    env: "KEYWARD_DEFAULT_MAX_TOKENS",
    kind: "integer",
    default: 4096,
    min: 1,
    max: 10_000_000,
    help: "Output cap reserved (and set upstream) for budgeted requests that give none",
  },
  {
    flag: "log-retention-days",
    env: "KEYWARD_LOG_RETENTION_DAYS",
    kind: "integer",
    default: 90,
    min: 0,
    max: 36500,
    help: "Days request-log rows are kept (0 keeps them forever)",
  },
  {
    flag: "expired-key-retention-days",
    env: "KEYWARD_EXPIRED_KEY_RETENTION_DAYS",
    kind: "integer",
    default: 30,
    min: 0,
    max: 36500,
    help: "Days after expiry or revocation before a proxy key's secret hash is deleted (row and usage stay; 0: at the next hourly sweep)",
  },
  { flag: "metrics-token", env: "KEYWARD_METRICS_TOKEN", kind: "string", help: "Bearer token required on /metrics (open when unset)", secret: true },
  {
    flag: "cors-origins",
    env: "KEYWARD_CORS_ORIGINS",
    kind: "string",
    help: "Comma-separated browser origins (https://app.example.com) whose pages may call /v1/* (off when unset)",
  },
] as const satisfies readonly OptionSpec[];

export type ServeFlag = (typeof SERVE_OPTIONS)[number]["flag"];

/** Secrets read from the environment only: a flag would show them in `ps`. */
export const SECRET_ENV = [
  { env: "KEYWARD_MASTER_KEY", help: "Base64 master key (32 bytes); wins over the key file" },
  { env: "KEYWARD_ADMIN_TOKEN", help: "A kwa_ token registered as root admin at start (see `keyward admin-token generate`)" },
] as const;

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface ServeConfig {
  port: number;
  host: string;
  dataDir: string;
  /** Set by `--database-url`: the database is PostgreSQL, shared by every instance given the same URL. */
  postgres?: PostgresOptions;
  masterKeyFile?: string;
  masterKey?: string;
  adminToken?: string;
  allowHttpUpstreams: boolean;
  /** Serve HTTPS with these PEM files when set. */
  tls?: TlsFiles;
  /** Client address from X-Forwarded-For (last entry) instead of the socket. */
  trustProxy: boolean;
  logFormat: "auto" | "json" | "pretty";
  logLevel: "debug" | "info" | "warn" | "error";
  /** Milliseconds. */
  upstreamTimeoutMs: number;
  maxBodyBytes: number;
  /** Milliseconds. */
  shutdownTimeoutMs: number;
  defaultMaxTokens: number;
  logRetentionDays: number;
  expiredKeyRetentionDays: number;
  metricsToken?: string;
  /** Origins (`scheme://host[:port]`, as browsers send them) answered with CORS headers on /v1/*; empty: CORS off. */
  corsOrigins: string[];
  /** HTTPS_PROXY or HTTP_PROXY is set: upstream requests go through `fetch`, which honours them. */
  egressProxy: boolean;
  /** TEST-ONLY (`KEYWARD_TEST_IDLE_TIMEOUT_S`, see TestHooks): the server's idle timeout; the runtime's maximum otherwise. */
  idleTimeoutSeconds?: number;
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

/** A file value as the text a flag would carry; booleans stay booleans, anything else is refused by `coerce`. */
function fileRaw(spec: OptionSpec, value: FileValue, source: string): string | boolean {
  if (typeof value === "boolean") {
    if (spec.kind !== "boolean")
      throw new ConfigError(`Invalid ${source}: expected ${spec.kind === "string" ? "a string" : "a number or string"}, got ${value}`);
    return value;
  }
  return String(value);
}

/**
 * `--cors-origins`: each entry an origin exactly as a browser sends it in
 * `Origin` (scheme, host, optional port), compared as text. A path, `*` or
 * `null` is refused rather than guessed at: a looser match would let pages
 * nobody listed call /v1/* from a browser.
 */
export function parseOrigins(text: string | undefined, source: string): string[] {
  if (text === undefined) return [];
  const origins: string[] = [];
  for (const entry of text.split(",")) {
    const trimmed = entry.trim();
    if (!trimmed) continue;
    let url: URL | undefined;
    try {
      url = new URL(trimmed);
    } catch {
      url = undefined;
    }
    const bare = url && (url.protocol === "https:" || url.protocol === "http:") && !url.username && !url.password;
    if (!url || !bare || url.pathname !== "/" || url.search || url.hash || trimmed.endsWith("?") || trimmed.endsWith("#")) {
      throw new ConfigError(`Invalid ${source}: "${trimmed}" is not an origin (scheme, host and optional port, such as https://app.example.com)`);
    }
    // Browsers send the serialised origin: lower-case host, no default port, no trailing slash.
    if (!origins.includes(url.origin)) origins.push(url.origin);
  }
  if (origins.length === 0) throw new ConfigError(`Invalid ${source}: expected one or more origins separated by commas`);
  return origins;
}

export type ValueSource = "flag" | "env" | "file" | "default";

/** One option's effective value and where it came from (`keyward config check`). */
export interface ResolvedOption {
  flag: ServeFlag;
  value: string | number | boolean | undefined;
  source: ValueSource;
  /** The variable or file path the value came from. */
  origin?: string;
  secret: boolean;
  /** The value as it may be printed, when it holds a secret part (a URL's password). */
  redacted?: string;
}

/** Reads the value of one option: flag, then env, then config file, then default. */
function resolve(
  spec: OptionSpec,
  flags: Record<string, string | boolean | undefined>,
  env: Env,
  file: ConfigFile | undefined,
): Omit<ResolvedOption, "flag" | "secret" | "redacted"> {
  const flagValue = flags[spec.flag];
  if (flagValue !== undefined) return { value: coerce(spec, flagValue, `--${spec.flag}`), source: "flag" };
  const envValue = env[spec.env];
  if (envValue !== undefined && envValue !== "") return { value: coerce(spec, envValue, spec.env), source: "env", origin: spec.env };
  const fileValue = file?.values[spec.flag];
  if (file && fileValue !== undefined) {
    const source = `${spec.flag} in ${file.path}`;
    return { value: coerce(spec, fileRaw(spec, fileValue, source), source), source: "file", origin: file.path };
  }
  return { value: spec.default, source: "default" };
}

/** Options for `node:util` parseArgs built from a spec table. */
export function parseArgsOptions(specs: readonly OptionSpec[]) {
  return Object.fromEntries(specs.map((s) => [s.flag, { type: s.kind === "boolean" ? ("boolean" as const) : ("string" as const) }]));
}

/** Parses flags with friendly one-line errors instead of parseArgs' own. */
export function parseFlags(
  args: string[],
  options: Record<string, { type: "string" | "boolean"; short?: string }>,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: parsed.values, positionals: parsed.positionals };
  } catch (err) {
    const message = (err as Error).message;
    const unknown = /Unknown option '([^']+)'/.exec(message);
    if (unknown) throw new ConfigError(`Unknown option ${unknown[1]} (see --help)`);
    const needsValue = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(message);
    if (needsValue) throw new ConfigError(`Missing value for ${needsValue[1]}`);
    throw new ConfigError(message.split("\n")[0] ?? message);
  }
}

/** The serve options a host-side command shares with the server (data dir, master key file, config file). */
export const HOST_OPTIONS = parseArgsOptions(SERVE_OPTIONS.filter((s) => ["config", "data-dir", "master-key-file"].includes(s.flag)));

/** Flag names a config file may use. */
const FILE_KEYS: readonly string[] = SERVE_OPTIONS.filter((s: OptionSpec) => !s.notInFile).map((s) => s.flag);

/**
 * Every serve option with its value and source, and the typed config.
 * Throws ConfigError (exit 2) naming the flag, variable or file key at fault.
 */
export function resolveServeConfig(flags: Record<string, string | boolean | undefined>, env: Env): { config: ServeConfig; options: ResolvedOption[] } {
  const configSpec = SERVE_OPTIONS.find((s) => s.flag === "config") as OptionSpec;
  const configPath = resolve(configSpec, flags, env, undefined).value as string | undefined;
  const file = configPath === undefined ? undefined : readConfigFile(configPath, FILE_KEYS);
  const options = SERVE_OPTIONS.map((spec: OptionSpec): ResolvedOption => {
    const resolved = resolve(spec, flags, env, file);
    const redacted = spec.redact && typeof resolved.value === "string" ? spec.redact(resolved.value) : undefined;
    return { flag: spec.flag as ServeFlag, secret: spec.secret === true, ...resolved, ...(redacted === undefined ? {} : { redacted }) };
  });
  const value = (flag: ServeFlag) => options.find((o) => o.flag === flag)?.value;
  const described = (flag: ServeFlag) => {
    const option = options.find((o) => o.flag === flag) as ResolvedOption;
    return option.source === "flag"
      ? `--${flag}`
      : option.source === "env"
        ? (SERVE_OPTIONS.find((s) => s.flag === flag)?.env ?? flag)
        : `${flag} in ${option.origin}`;
  };
  const certFile = value("tls-cert") as string | undefined;
  const keyFile = value("tls-key") as string | undefined;
  // Half a TLS setup would silently serve plain HTTP: refuse it.
  if (certFile !== undefined && keyFile === undefined) throw new ConfigError(`Invalid ${described("tls-cert")}: --tls-key (KEYWARD_TLS_KEY) is required too`);
  if (keyFile !== undefined && certFile === undefined) throw new ConfigError(`Invalid ${described("tls-key")}: --tls-cert (KEYWARD_TLS_CERT) is required too`);
  const postgres = postgresConfig(
    {
      url: value("database-url") as string | undefined,
      passwordFile: value("database-password-file") as string | undefined,
      caFile: value("database-ca-file") as string | undefined,
    },
    described,
  );
  const config: ServeConfig = {
    port: value("port") as number,
    host: value("host") as string,
    dataDir: value("data-dir") as string,
    ...(postgres === undefined ? {} : { postgres }),
    masterKeyFile: value("master-key-file") as string | undefined,
    masterKey: env.KEYWARD_MASTER_KEY || undefined,
    adminToken: env.KEYWARD_ADMIN_TOKEN || undefined,
    allowHttpUpstreams: value("allow-http-upstreams") as boolean,
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : undefined,
    trustProxy: value("trust-proxy") as boolean,
    logFormat: value("log-format") as ServeConfig["logFormat"],
    logLevel: value("log-level") as ServeConfig["logLevel"],
    upstreamTimeoutMs: (value("upstream-timeout") as number) * 1000,
    maxBodyBytes: value("max-body-size") as number,
    shutdownTimeoutMs: (value("shutdown-timeout") as number) * 1000,
    defaultMaxTokens: value("default-max-tokens") as number,
    logRetentionDays: value("log-retention-days") as number,
    expiredKeyRetentionDays: value("expired-key-retention-days") as number,
    metricsToken: value("metrics-token") as string | undefined,
    corsOrigins: parseOrigins(value("cors-origins") as string | undefined, described("cors-origins")),
    egressProxy: [env.HTTPS_PROXY, env.https_proxy, env.HTTP_PROXY, env.http_proxy].some((v) => v !== undefined && v !== ""),
    idleTimeoutSeconds: readTestHooks(env).idleTimeoutSeconds,
  };
  return { config, options };
}

export function loadServeConfig(flags: Record<string, string | boolean | undefined>, env: Env): ServeConfig {
  return resolveServeConfig(flags, env).config;
}

/** PostgreSQL's connection options (for `openPostgres`) when `--database-url` is set; undefined means SQLite in the data dir. */
export function postgresOptions(config: ServeConfig): PostgresOptions | undefined {
  return config.postgres;
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

/**
 * TEST-ONLY knobs, read here because this is the one module that reads the
 * environment. Not in --help or README: they exist so the test suite can
 * widen race windows in the real binary. Never set them in production.
 */
export interface TestHooks {
  /** `KEYWARD_TEST_ROTATION_DELAY_MS`: sleep between re-encrypted rows inside the rotation transaction. */
  rotationDelayMs: number;
  /** `KEYWARD_TEST_IDLE_TIMEOUT_S` (1-255): the server's idle timeout, so a test sees silent connections closed in seconds. */
  idleTimeoutSeconds?: number;
}

export function readTestHooks(env: Env): TestHooks {
  const raw = env.KEYWARD_TEST_ROTATION_DELAY_MS;
  const rotationDelayMs = raw && /^\d{1,5}$/.test(raw) ? Number(raw) : 0;
  const idle = env.KEYWARD_TEST_IDLE_TIMEOUT_S;
  const idleTimeoutSeconds = idle && /^\d{1,3}$/.test(idle) && Number(idle) >= 1 && Number(idle) <= 255 ? Number(idle) : undefined;
  return { rotationDelayMs, idleTimeoutSeconds };
}

/** Environment variables `keyward issue` reads; flags win. */
export const ISSUE_ENV = [
  { env: "KEYWARD_URL", help: "keyward's URL for `keyward issue` (--url wins)" },
  { env: "KEYWARD_ISSUER_TOKEN", help: "A keys:issue admin token for `keyward issue` (--token wins; prefer this to the flag, which `ps` shows)" },
  { env: "ACTIONS_ID_TOKEN_REQUEST_URL", help: "Set by GitHub Actions for jobs with `permissions: id-token: write`; used by --oidc" },
  { env: "ACTIONS_ID_TOKEN_REQUEST_TOKEN", help: "Its bearer token, also set by GitHub Actions" },
  { env: "GITHUB_ACTIONS", help: "When true, the minted key is masked in the job log (`::add-mask::` on stderr)" },
] as const;

export const ISSUE_FORMATS = ["key", "json", "env"] as const;
export type IssueFormat = (typeof ISSUE_FORMATS)[number];

/** Where `keyward issue --oidc` gets the CI's ID token. */
export type IdTokenSource = { from: "env"; name: string; value: string } | { from: "github"; requestUrl: string; requestToken: string; audience: string };

export type IssueMode =
  | { kind: "token"; token: string; providerKey: string; ttlSeconds?: number; budgetUsd?: number; models?: string[]; name?: string }
  | { kind: "oidc"; idToken: IdTokenSource };

export interface IssueConfig {
  /** Without a trailing slash. */
  url: string;
  mode: IssueMode;
  format: IssueFormat;
  /** Running inside GitHub Actions: mask the key in the job log. */
  githubActions: boolean;
}

/** `90s`, `15m`, `1h`, `2d` or bare seconds → seconds. */
export function parseDuration(text: string, source: string): number {
  const match = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 }[match?.[2] ?? ""];
  const seconds = match && unit !== undefined ? Number(match[1]) * unit : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1) {
    throw new ConfigError(`Invalid ${source}: expected a duration such as 90s, 15m, 1h, 2d or a number of seconds, got "${text}"`);
  }
  return seconds;
}

function text(flags: Record<string, string | boolean | undefined>, flag: string): string | undefined {
  const value = flags[flag];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !value.trim()) throw new ConfigError(`Missing value for --${flag}`);
  return value.trim();
}

function issueUrl(flags: Record<string, string | boolean | undefined>, env: Env): string {
  const raw = text(flags, "url") ?? (env.KEYWARD_URL || undefined);
  if (raw === undefined) throw new ConfigError("Missing --url (or KEYWARD_URL): keyward's address, e.g. https://keyward.example.com");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`Invalid --url: "${raw}" is not an absolute URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new ConfigError("Invalid --url: scheme must be http or https");
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/** From --id-token-env (the token's audience was chosen where it was made), or GitHub's endpoint for --audience. */
function idTokenSource(flags: Record<string, string | boolean | undefined>, env: Env): IdTokenSource {
  const name = text(flags, "id-token-env");
  if (name !== undefined) {
    const value = env[name];
    if (!value) throw new ConfigError(`Cannot read the OIDC token: environment variable ${name} (from --id-token-env) is empty or unset`);
    return { from: "env", name, value: value.trim() };
  }
  const requestUrl = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!requestUrl || !requestToken) {
    throw new ConfigError(
      "Cannot get an OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL/ACTIONS_ID_TOKEN_REQUEST_TOKEN are unset (give the GitHub Actions job `permissions: id-token: write`, or pass --id-token-env NAME elsewhere)",
    );
  }
  const audience = text(flags, "audience");
  if (audience === undefined) throw new ConfigError("Missing --audience: the audience your trust policy expects (e.g. keyward)");
  return { from: "github", requestUrl, requestToken, audience };
}

/** `keyward issue` options: flags, then environment. Throws ConfigError (exit 2) for usage mistakes. */
export function loadIssueConfig(flags: Record<string, string | boolean | undefined>, env: Env): IssueConfig {
  const url = issueUrl(flags, env);
  const format = text(flags, "format") ?? "key";
  if (!(ISSUE_FORMATS as readonly string[]).includes(format)) {
    throw new ConfigError(`Invalid --format: expected one of ${ISSUE_FORMATS.join(", ")}, got "${format}"`);
  }
  const githubActions = env.GITHUB_ACTIONS === "true";
  if (flags.oidc === true) {
    const conflicting = ["token", "provider-key", "ttl", "budget", "models", "name"].find((f) => flags[f] !== undefined);
    if (conflicting) throw new ConfigError(`Unexpected --${conflicting} with --oidc: the trust policy decides it`);
    return { url, format: format as IssueFormat, githubActions, mode: { kind: "oidc", idToken: idTokenSource(flags, env) } };
  }
  for (const f of ["audience", "id-token-env"]) if (flags[f] !== undefined) throw new ConfigError(`Unexpected --${f} without --oidc`);
  const token = text(flags, "token") ?? (env.KEYWARD_ISSUER_TOKEN || undefined);
  if (token === undefined) throw new ConfigError("Missing --token (or KEYWARD_ISSUER_TOKEN): a keys:issue admin token, or use --oidc");
  const providerKey = text(flags, "provider-key");
  if (providerKey === undefined) throw new ConfigError("Missing --provider-key: the provider key's name or id");
  const mode: IssueMode = { kind: "token", token, providerKey };
  const ttl = text(flags, "ttl");
  if (ttl !== undefined) mode.ttlSeconds = parseDuration(ttl, "--ttl");
  const budget = text(flags, "budget");
  if (budget !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(budget)) throw new ConfigError(`Invalid --budget: expected a number of US dollars, got "${budget}"`);
    mode.budgetUsd = Number(budget);
  }
  const models = text(flags, "models");
  if (models !== undefined)
    mode.models = models
      .split(",")
      .map((m) => m.trim())
      .filter(Boolean);
  const name = text(flags, "name");
  if (name !== undefined) mode.name = name;
  return { url, format: format as IssueFormat, githubActions, mode };
}

/** The process environment; main.ts passes it on so nothing else reads it. */
export function readEnv(): Env {
  return process.env;
}
