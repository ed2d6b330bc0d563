import { refuseSharedDatabase } from "./host.ts";
import { systemClock } from "../clock.ts";
import { ConfigError, loadServeConfig, parseFlags, type Env } from "../config.ts";
import { openDatabase } from "../db/open.ts";
import { createSqliteStore } from "../db/sqlite-store.ts";
import { detectRuntime } from "../runtime/index.ts";
import { AdminTokenService } from "../vault/admin-tokens.ts";
import { VaultEvents } from "../changes/events.ts";
import { ISSUER_POLICY_FIELDS, readIssuerPolicy, type IssuerPolicy } from "../vault/issuer-policy.ts";
import { generateKey } from "../vault/key-format.ts";

/**
 * `keyward admin-token create|generate`. `create` writes straight to the
 * database file, which is safe while a server runs on it (WAL, busy timeout,
 * and the server reads admin tokens from the database on every request).
 */
export async function adminTokenCommand(args: string[], env: Env): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "generate") {
    const flags = parseFlags(rest, {});
    if (flags.positionals.length > 0) throw new ConfigError(`Unexpected argument "${flags.positionals[0]}"`);
    process.stdout.write(`${generateKey("admin").token}\n`);
    return 0;
  }
  if (sub !== "create") throw new ConfigError(`Unknown admin-token command "${sub ?? ""}": use create or generate`);

  const flags = parseFlags(rest, {
    "data-dir": { type: "string" },
    name: { type: "string" },
    scopes: { type: "string" },
    "expires-at": { type: "string" },
    policy: { type: "string" },
  });
  if (flags.positionals.length > 0) throw new ConfigError(`Unexpected argument "${flags.positionals[0]}"`);
  const name = flags.values.name;
  if (typeof name !== "string" || !name.trim()) throw new ConfigError("Missing value for --name");
  const scopesFlag = flags.values.scopes;
  if (typeof scopesFlag !== "string" || !scopesFlag.trim()) throw new ConfigError("Missing value for --scopes (admin, keys:issue, read)");
  const config = loadServeConfig({ "data-dir": flags.values["data-dir"] }, env);
  refuseSharedDatabase(config);
  const { dataDir } = config;
  const policyFlag = flags.values.policy;
  let policy: IssuerPolicy | undefined;
  if (typeof policyFlag === "string") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(policyFlag);
    } catch {
      throw new ConfigError("Invalid --policy: it is not JSON");
    }
    policy = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? readIssuerPolicy(parsed as Record<string, unknown>) : undefined;
    if (!policy) throw new ConfigError('Invalid --policy: expected {"provider_key_ids":[…],"max_ttl_seconds":N,"max_budget_usd":N}');
    // readIssuerPolicy skips what it does not know; here that would silently drop a bound (a typo, a quoted number).
    for (const field of Object.keys(parsed as Record<string, unknown>)) {
      if (!(ISSUER_POLICY_FIELDS as readonly string[]).includes(field)) {
        throw new ConfigError(`Invalid --policy: unknown field ${JSON.stringify(field)} (fields: ${ISSUER_POLICY_FIELDS.join(", ")})`);
      }
      if (!(field in policy)) throw new ConfigError(`Invalid --policy: field ${field} has the wrong type`);
    }
  }

  const runtime = await detectRuntime();
  const opened = openDatabase(runtime, dataDir);
  const store = createSqliteStore(opened.db, () => opened.client.close());
  try {
    const service = new AdminTokenService({ store, clock: systemClock, events: new VaultEvents() });
    const expiresAt = flags.values["expires-at"];
    const created = await service.create("cli", {
      name: name.trim(),
      scopes: scopesFlag
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
      expires_at: typeof expiresAt === "string" ? expiresAt : undefined,
      policy,
    });
    if (!created.ok) {
      const field = created.error.field ?? "";
      const flag = field === "scopes" ? "--scopes" : field === "expires_at" ? "--expires-at" : field.startsWith("policy") ? "--policy" : "--name";
      throw new ConfigError(`Invalid ${flag}: ${created.error.message}`);
    }
    process.stdout.write(`${created.value.token}\n`);
    return 0;
  } finally {
    store.close();
  }
}
