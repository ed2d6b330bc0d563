import { ConfigError, parseArgsOptions, parseFlags, resolveServeConfig, SERVE_OPTIONS, type Env } from "../config.ts";

export const CONFIG_CHECK_USAGE = `Usage: keyward config check [--config F] [serve flags]

Prints the configuration \`keyward serve\` would run with, each value with its
source (flag, env, file or default), secrets masked. Exit 0 when valid, 2 with
the error otherwise.
`;

const MASK = "********";

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** `keyward config check`: validates like serve, then shows the effective values. */
export function configCommand(args: string[], env: Env): number {
  const [sub, ...rest] = args;
  if (sub !== "check") throw new ConfigError(`Unknown config command "${sub ?? ""}": use keyward config check`);
  const flags = parseFlags(rest, { ...parseArgsOptions(SERVE_OPTIONS), help: { type: "boolean", short: "h" } });
  if (flags.values.help) {
    process.stdout.write(CONFIG_CHECK_USAGE);
    return 0;
  }
  if (flags.positionals.length > 0) throw new ConfigError(`Unexpected argument "${flags.positionals[0]}"`);
  const { options } = resolveServeConfig(flags.values, env);
  const rows = [["option", "value", "source"]];
  for (const option of options) {
    const shown = option.value === undefined ? "(unset)" : option.secret ? MASK : (option.redacted ?? String(option.value));
    const source = option.origin && option.source === "file" ? `file ${option.origin}` : option.origin ? `env ${option.origin}` : option.source;
    rows.push([option.flag, shown, source]);
  }
  // The env-only secrets: whether they are set, never their value.
  for (const name of ["KEYWARD_MASTER_KEY", "KEYWARD_ADMIN_TOKEN"]) {
    const set = Boolean(env[name]);
    rows.push([name === "KEYWARD_MASTER_KEY" ? "master-key" : "admin-token", set ? MASK : "(unset)", set ? `env ${name}` : "default"]);
  }
  process.stdout.write(`${table(rows)}\nConfiguration is valid.\n`);
  return 0;
}
