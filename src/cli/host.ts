/**
 * What the host-side commands (backup, restore, rotate-master-key) share:
 * the data dir and master key resolved exactly as `serve` resolves them
 * (flags, KEYWARD_* variables, --config file, defaults).
 */
import { ConfigError, HOST_OPTIONS, loadServeConfig, parseFlags, type Env, type ServeConfig } from "../config.ts";

export interface HostArgs {
  config: ServeConfig;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parseHostArgs(args: string[], env: Env, extra: Record<string, { type: "string" | "boolean" }>, usage: string): HostArgs | "help" {
  const flags = parseFlags(args, { ...HOST_OPTIONS, ...extra, help: { type: "boolean", short: "h" } });
  if (flags.values.help) {
    process.stdout.write(usage);
    return "help";
  }
  const serveFlags = Object.fromEntries(Object.keys(HOST_OPTIONS).map((k) => [k, flags.values[k]]));
  const config = loadServeConfig(serveFlags, env);
  refuseSharedDatabase(config);
  return { config, values: flags.values, positionals: flags.positionals };
}

/**
 * The host-side commands work on the SQLite file in the data dir. With a
 * database URL set they would quietly act on a file the servers do not use.
 */
export function refuseSharedDatabase(config: ServeConfig): void {
  if (!config.postgres) return;
  throw new ConfigError(
    "Cannot run this command on PostgreSQL (KEYWARD_DATABASE_URL or --database-url is set): it works on the SQLite database in the data dir. " +
      "On PostgreSQL, back up with pg_dump and restore with pg_restore, and create admin tokens through the admin API; rotating a shared database's master key is not supported yet",
  );
}

export function onePositional(positionals: string[], what: string, usage: string): string {
  if (positionals.length === 0) throw new ConfigError(`Missing ${what}: ${usage.split("\n")[0]?.replace(/^Usage:\s*/, "")}`);
  if (positionals.length > 1) throw new ConfigError(`Unexpected argument "${positionals[1]}"`);
  return positionals[0] as string;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** `1 provider key`, `3 provider keys`. */
export function counted(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
