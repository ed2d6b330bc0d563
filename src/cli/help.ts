import { optionRows, SECRET_ENV } from "../config.ts";
import { VERSION } from "../version.ts";

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => `  ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd()}`).join("\n");
}

export function helpText(): string {
  return `keyward ${VERSION}: a self-hosted vault for LLM provider API keys

Usage:
  keyward [serve] [options]                 Start the server (default command)
  keyward admin-token create --name N --scopes S [--data-dir D] [--expires-at ISO]
                                            Create an admin token on this host; prints only the token
  keyward admin-token generate              Print a fresh kwa_ token for KEYWARD_ADMIN_TOKEN (no database)
  keyward version                           Print version and schema version
  keyward help | --help                     This text

Server options (flag, environment variable, default):
${table(optionRows())}

Secrets, from the environment only:
${table(SECRET_ENV.map((s) => [s.env, s.help]))}

Flags win over environment variables. Admin API docs: http://HOST:PORT/docs
`;
}
