import { pageOf } from "../db/cursor.ts";
import type { AdminTokenRow, PageCursor, Store } from "../db/store.ts";
import { fail, ok, type Result } from "../errors.ts";
import type { Clock } from "../clock.ts";
import { recordAudit, type ActorId } from "../changes/audit.ts";
import type { VaultEvents } from "../changes/events.ts";
import { hashSecret } from "./hashing.ts";
import { validateIssuerPolicy, type IssuerPolicy } from "./issuer-policy.ts";
import { generateKey, keyHint, parseKey, type ParsedKey } from "./key-format.ts";
import { isScope, SCOPES, type Scope } from "./scopes.ts";

export interface CreateAdminTokenInput {
  name: string;
  scopes: string[];
  expires_at?: string;
  /** Required for (and only for) `keys:issue` tokens. */
  policy?: IssuerPolicy;
}

export interface CreatedAdminToken {
  row: AdminTokenRow;
  token: string;
}

export interface AdminTokenServiceDeps {
  store: Store;
  clock: Clock;
  events: VaultEvents;
}

export function adminTokenStatus(row: AdminTokenRow, now: number): "active" | "expired" | "revoked" {
  if (row.revokedAt !== null) return "revoked";
  if (row.expiresAt !== null && row.expiresAt <= now) return "expired";
  return "active";
}

function validateScopes(scopes: string[]): Result<Scope[]> {
  if (scopes.length === 0) return fail("validation_failed", "Cannot create admin token: scopes must not be empty", "scopes");
  const unknown = scopes.filter((s) => !isScope(s));
  if (unknown.length > 0) {
    return fail(
      "validation_failed",
      `Cannot create admin token: unknown scope ${unknown.map((s) => JSON.stringify(s)).join(", ")}; use ${SCOPES.join(", ")}`,
      "scopes",
    );
  }
  return ok([...new Set(scopes)] as Scope[]);
}

/** Admin tokens (`kwa_…`): argon2id-hashed, scoped, shown once. */
export class AdminTokenService {
  constructor(private readonly deps: AdminTokenServiceDeps) {}

  async create(actor: ActorId, input: CreateAdminTokenInput, preset?: ParsedKey, options: { onlyWhenNone?: boolean } = {}): Promise<Result<CreatedAdminToken>> {
    const { store, clock } = this.deps;
    const scopes = validateScopes(input.scopes);
    if (!scopes.ok) return scopes;
    const policy = validateIssuerPolicy(
      scopes.value,
      input.policy,
      (id) => store.providerKeys.byId(id) !== undefined,
      (id) => store.teams.byId(id) !== undefined,
    );
    if (!policy.ok) return policy;
    const now = clock.now();
    let expiresAt: number | null = null;
    if (input.expires_at !== undefined) {
      const at = Date.parse(input.expires_at);
      if (!/^\d{4}-\d{2}-\d{2}T/.test(input.expires_at) || Number.isNaN(at)) {
        return fail("validation_failed", "Cannot create admin token: expires_at must be an ISO 8601 date-time", "expires_at");
      }
      if (at <= now) return fail("validation_failed", "Cannot create admin token: expires_at is in the past", "expires_at");
      expiresAt = at;
    }
    const key = preset ?? generateKey("admin");
    const row: AdminTokenRow = {
      id: key.id,
      name: input.name,
      scopes: scopes.value,
      secretHash: await hashSecret(key.secret),
      keyHint: keyHint(key),
      expiresAt,
      revokedAt: null,
      policy: policy.value === null ? null : { ...policy.value },
      createdBy: actor,
      createdAt: now,
    };
    return store.write((tx) => {
      // Decided inside the write: instances starting together on one shared database create one root token, not one each.
      if (options.onlyWhenNone === true && tx.adminTokens.count() > 0) return fail<CreatedAdminToken>("conflict", "Cannot create a root token: one exists");
      if (tx.adminTokens.byId(row.id)) {
        return fail<CreatedAdminToken>("conflict", `Cannot create admin token: id ${row.id} exists`);
      }
      tx.adminTokens.insert(row);
      recordAudit(tx, actor, now, {
        action: "admin_token.create",
        targetType: "admin_token",
        targetId: row.id,
        details: policy.value === null ? { name: row.name, scopes: row.scopes } : { name: row.name, scopes: row.scopes, policy: policy.value },
      });
      return ok({ row, token: key.token });
    });
  }

  /**
   * At server start: registers `KEYWARD_ADMIN_TOKEN` if its id is unknown, or
   * creates a root token when the database has none. Returns the token to
   * print only when one was generated here.
   */
  async bootstrap(presetToken: string | undefined): Promise<Result<{ generated?: string; registered?: string }>> {
    if (presetToken !== undefined) {
      const parsed = parseKey("admin", presetToken);
      if (!parsed) {
        return fail("validation_failed", "Cannot use KEYWARD_ADMIN_TOKEN: it is not a valid kwa_ token (create one with `keyward admin-token generate`)");
      }
      if (this.deps.store.adminTokens.byId(parsed.id)) return ok({});
      const created = await this.create("bootstrap", { name: "root (KEYWARD_ADMIN_TOKEN)", scopes: ["admin"] }, parsed);
      // Another instance sharing the database registered it meanwhile.
      if (!created.ok && created.error.code === "conflict") return ok({});
      return created.ok ? ok({ registered: created.value.row.id }) : created;
    }
    if (this.deps.store.adminTokens.count() > 0) return ok({});
    const created = await this.create("bootstrap", { name: "root", scopes: ["admin"] }, undefined, { onlyWhenNone: true });
    if (!created.ok && created.error.code === "conflict") return ok({});
    return created.ok ? ok({ generated: created.value.token }) : created;
  }

  list(limit: number, after?: PageCursor): { rows: AdminTokenRow[]; nextCursor: string | null } {
    return pageOf(this.deps.store.adminTokens.page({ limit: limit + 1, after }), limit);
  }

  get(id: string): Result<AdminTokenRow> {
    const row = this.deps.store.adminTokens.byId(id);
    return row ? ok(row) : fail("not_found", `Cannot find admin token ${id}`);
  }

  async revoke(actor: ActorId, id: string): Promise<Result<AdminTokenRow>> {
    const { store, clock, events } = this.deps;
    const now = clock.now();
    const result = await store.write((tx) => {
      const current = tx.adminTokens.byId(id);
      if (!current) return fail<AdminTokenRow>("not_found", `Cannot find admin token ${id}`);
      if (current.revokedAt !== null) return ok(current);
      tx.adminTokens.update(id, { revokedAt: now });
      recordAudit(tx, actor, now, { action: "admin_token.revoke", targetType: "admin_token", targetId: id });
      return ok(tx.adminTokens.byId(id) as AdminTokenRow);
    });
    if (result.ok) events.emit({ kind: "admin-token", id });
    return result;
  }
}
