import type { Clock } from "../clock.ts";
import { recordAudit, type ActorId } from "../changes/audit.ts";
import type { VaultEvents } from "../changes/events.ts";
import { pageOf } from "../db/cursor.ts";
import type { PageCursor, Store, TeamRow } from "../db/store.ts";
import { fail, ok, type Result } from "../errors.ts";
import { periodStart } from "../limits/period.ts";
import { randomBase62 } from "./key-format.ts";
import { budgetTermsChanged, sharedLimitsPatch, type SharedLimitsInput } from "./limits-patch.ts";

/** A team's limits; `null` on update removes one. The same fields, and meanings, as a proxy key's. */
export type TeamLimitsInput = SharedLimitsInput;

export interface CreateTeamInput extends TeamLimitsInput {
  name: string;
  metadata?: Record<string, unknown>;
}

export interface UpdateTeamInput extends TeamLimitsInput {
  name?: string;
  metadata?: Record<string, unknown> | null;
}

/** The input's field names that were given, for the audit row (never values: metadata may be long). */
const givenFields = (input: object) => Object.entries(input).flatMap(([name, value]) => (value === undefined ? [] : [name]));

export interface TeamServiceDeps {
  store: Store;
  clock: Clock;
  events: VaultEvents;
}

/**
 * Teams: shared limits over a group of proxy keys (a department, an event).
 * A key of a team must fit its own limits and the team's; the team's budget
 * is spent by all its keys. Changes reach the proxy's cache through a
 * `team` vault event, as keys' do.
 */
export class TeamService {
  constructor(private readonly deps: TeamServiceDeps) {}

  async create(actor: ActorId, input: CreateTeamInput): Promise<Result<TeamRow>> {
    const { store, clock, events } = this.deps;
    const now = clock.now();
    const row: TeamRow = {
      id: `tm_${randomBase62(12)}`,
      name: input.name,
      allowedModels: null,
      rpm: null,
      tpm: null,
      maxConcurrency: null,
      budgetMicros: null,
      budgetPeriod: "total",
      spendMicros: 0,
      periodStartedAt: 0,
      disabled: false,
      metadata: input.metadata ?? null,
      createdBy: actor,
      createdAt: now,
      updatedAt: now,
      ...sharedLimitsPatch(input),
    };
    row.periodStartedAt = periodStart(row.budgetPeriod, now);
    const result = await store.write((tx) => {
      if (tx.teams.byName(input.name)) return fail<TeamRow>("conflict", `Cannot create team: name "${input.name}" is taken`, "name");
      tx.teams.insert(row);
      recordAudit(tx, actor, now, { action: "team.create", targetType: "team", targetId: row.id, details: { name: row.name, fields: givenFields(input) } });
      return ok(row);
    });
    if (result.ok) events.emit({ kind: "team", id: row.id });
    return result;
  }

  list(limit: number, after: PageCursor | undefined): { rows: TeamRow[]; nextCursor: string | null } {
    return pageOf(this.deps.store.teams.page({ limit: limit + 1, after }), limit);
  }

  get(id: string): Result<TeamRow> {
    const row = this.deps.store.teams.byId(id);
    return row ? ok(row) : fail("not_found", `Cannot find team ${id}`);
  }

  /**
   * A budget below what the team spent this period is accepted: its keys are
   * refused from their next request until the period resets or the budget is
   * raised (the route says so in the answer). Keys keep their own spend.
   */
  async update(actor: ActorId, id: string, input: UpdateTeamInput): Promise<Result<TeamRow>> {
    const { store, clock, events } = this.deps;
    const now = clock.now();
    const patch: Partial<TeamRow> = { updatedAt: now, ...sharedLimitsPatch(input) };
    if (input.name !== undefined) patch.name = input.name;
    if (input.metadata !== undefined) patch.metadata = input.metadata;
    let budgetChanged = false;
    const result = await store.write((tx) => {
      const current = tx.teams.byId(id);
      if (!current) return fail<TeamRow>("not_found", `Cannot find team ${id}`);
      if (input.name !== undefined && input.name !== current.name && tx.teams.byName(input.name)) {
        return fail<TeamRow>("conflict", `Cannot rename team: name "${input.name}" is taken`, "name");
      }
      budgetChanged = budgetTermsChanged(patch, current);
      tx.teams.update(id, patch);
      recordAudit(tx, actor, now, { action: "team.update", targetType: "team", targetId: id, details: { fields: givenFields(input) } });
      return ok(tx.teams.byId(id) as TeamRow);
    });
    // The budget ledger's ceiling was granted under the old terms; it re-grants under the new ones.
    if (result.ok) events.emit({ kind: "team", id, budgetChanged });
    return result;
  }

  /** Disabled, every key of the team is refused on its next request (403 `team_disabled`); idempotent. */
  async setDisabled(actor: ActorId, id: string, disabled: boolean): Promise<Result<TeamRow>> {
    const { store, clock, events } = this.deps;
    const now = clock.now();
    const result = await store.write((tx) => {
      const current = tx.teams.byId(id);
      if (!current) return fail<TeamRow>("not_found", `Cannot find team ${id}`);
      if (current.disabled === disabled) return ok(current);
      tx.teams.update(id, { disabled, updatedAt: now });
      recordAudit(tx, actor, now, { action: disabled ? "team.disable" : "team.enable", targetType: "team", targetId: id });
      return ok(tx.teams.byId(id) as TeamRow);
    });
    if (result.ok) events.emit({ kind: "team", id });
    return result;
  }

  /** Refused while keys belong to the team (revoked and expired ones too: their rows name it); move or delete them first. */
  async remove(actor: ActorId, id: string): Promise<Result<null>> {
    const { store, clock, events } = this.deps;
    const now = clock.now();
    const result = await store.write((tx) => {
      const current = tx.teams.byId(id);
      if (!current) return fail<null>("not_found", `Cannot find team ${id}`);
      const keys = tx.teams.countKeys(id);
      if (keys > 0) {
        return fail<null>(
          "conflict",
          `Cannot delete team ${current.name}: ${keys} proxy ${keys === 1 ? "key belongs" : "keys belong"} to it; move them to another team (PATCH team_id) or delete them first`,
        );
      }
      tx.teams.delete(id);
      recordAudit(tx, actor, now, { action: "team.delete", targetType: "team", targetId: id, details: { name: current.name } });
      return ok(null);
    });
    if (result.ok) events.emit({ kind: "team", id });
    return result;
  }
}
