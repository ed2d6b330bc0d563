import { ISSUE_ENV, optionRows, SECRET_ENV } from "../config.ts";
import { VERSION } from "../version.ts";

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map(
      (r) =>
        `  ${r
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join("  ")
          .trimEnd()}`,
    )
    .join("\n");
}

export function helpText(): string {
  return `keyward ${VERSION}: a self-hosted vault for LLM provider API keys

Usage:
  keyward [serve] [options]                 Start the server (default command)
  keyward admin-token create --name N --scopes S [--data-dir D] [--expires-at ISO] [--policy JSON]
                                            Create an admin token on this host; prints only the token
                                            (keys:issue tokens need --policy, e.g. '{"provider_key_ids":
                                            ["pk_…"],"max_ttl_seconds":3600,"max_budget_usd":2}')
  keyward admin-token generate              Print a fresh kwa_ token for KEYWARD_ADMIN_TOKEN (no database)
  keyward issue --url URL --token TOKEN --provider-key NAME_OR_ID [--ttl 1h] [--budget 2]
                [--models a,b] [--name N] [--format key|json|env]
                                            Mint a short-lived proxy key on a remote keyward with a
                                            keys:issue token (CI); prints the key (--format env: SDK variables)
  keyward issue --oidc --url URL (--audience AUD | --id-token-env NAME) [--format key|json|env]
                                            The same with the CI's OIDC ID token (GitHub Actions, or the
                                            token in env var NAME, e.g. GitLab's id_tokens)
                                            Exit codes: 2 usage, 3 auth failed, 4 policy refused, 5 unreachable
  keyward backup FILE [--data-dir D]        Consistent copy of the database while the server runs (never overwrites FILE)
  keyward restore FILE [--data-dir D] [--force]
                                            Replace the database with a backup, after checking the master key opens it;
                                            refused while a server runs on the data dir
  keyward rotate-master-key --new-key-file F [--data-dir D]
                                            Re-encrypt every provider key under a new master key (one transaction);
                                            refused while a server runs on the data dir
  keyward migrate [--database-url URL] [--data-dir D]
                                            Apply this binary's migrations (PostgreSQL with --database-url, else
                                            the SQLite database) and print how many were applied
  keyward systemd-unit [--binary PATH] [--user NAME]
                                            Print a hardened systemd unit
  keyward config check [--config F] [options]
                                            Print the effective configuration and where each value comes from
  keyward version                           Print version, commit and schema version
  keyward help | --help                     This text

Server options (flag, environment variable, default):
${table(optionRows())}

Secrets, from the environment only:
${table(SECRET_ENV.map((s) => [s.env, s.help]))}

For keyward issue, from the environment (flags win):
${table(ISSUE_ENV.map((s) => [s.env, s.help]))}

Flags win over environment variables, which win over the --config file. Host-side commands
(backup, restore, rotate-master-key) take --data-dir, --master-key-file and --config too;
migrate takes --config, --data-dir and the --database-* options.
Admin API docs: http://HOST:PORT/docs
`;
}
