import { Elysia, t } from "elysia";
import { decodeCursor } from "../../db/cursor.ts";
import type { TeamRow } from "../../db/store.ts";
import type { BudgetLedger } from "../../limits/budget.ts";
import type { TeamService } from "../../vault/teams.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { errorResponses, unwrap } from "../errors.ts";
import { PageQuery, readCursor } from "../pagination.ts";
import { ChangedTeamView, CreateTeamBody, TeamPage, TeamView, teamView, teamWarnings, UpdateTeamBody } from "./model.ts";

const IdParams = t.Object({ id: t.String({ maxLength: 64, description: "Team id", examples: ["tm_4fJ2q0sLxkT9"] }) });

/** `/api/teams`: shared limits and budgets over groups of proxy keys. */
export function teamRoutes(auth: AdminAuthDeps, service: TeamService, ledger: BudgetLedger) {
  // Spend and reservations come from the budget ledger, which is authoritative while the server runs.
  const view = (row: TeamRow) => teamView(row, ledger.viewTeam(row, auth.clock.now()));
  // With several instances, spend includes what the others reported (no round trip otherwise).
  const refreshed = async (row: TeamRow) => {
    await ledger.refreshShared("team", [row], auth.clock.now());
    return row;
  };
  const changed = (row: TeamRow) => {
    const spend = ledger.viewTeam(row, auth.clock.now());
    return { ...teamView(row, spend), warnings: teamWarnings(row, spend) };
  };
  return new Elysia({ name: "admin.teams", prefix: "/teams", detail: { tags: ["Teams"] } })
    .use(adminAuth(auth))
    .post("", async ({ body, actor, status }) => status(201, changed(unwrap(await service.create(actor.id, body)))), {
      scope: "admin",
      parse: "application/json",
      body: CreateTeamBody,
      response: { 201: ChangedTeamView, ...errorResponses(400, 401, 403, 409, 422) },
      detail: {
        summary: "Create a team",
        description: [
          "A team's limits apply to every key in it on top of the key's own: a request must fit both, each limit separately (the key's `allowed_models` and the team's must both allow the model). The team's `budget_usd` is shared: each request reserves its worst case against the key's budget and the team's in one step, so concurrent requests through many keys never overspend it.",
          "",
          "Put keys in with `team_id` on `POST /api/proxy-keys`, `PATCH /api/proxy-keys/{id}` or `POST /api/proxy-keys/batch`, or in an issuer policy or OIDC trust policy.",
        ].join("\n"),
      },
    })
    .get(
      "",
      async ({ query }) => {
        const page = service.list(query.limit ?? 50, readCursor(query.cursor, decodeCursor));
        await ledger.refreshShared("team", page.rows, auth.clock.now());
        return { data: page.rows.map(view), next_cursor: page.nextCursor };
      },
      {
        scope: "read",
        query: t.Object(PageQuery),
        response: { 200: TeamPage, ...errorResponses(401, 403, 422) },
        detail: { summary: "List teams", description: "Newest first, with each team's spend, reservations, remaining budget and period start." },
      },
    )
    .get("/:id", async ({ params }) => view(await refreshed(unwrap(service.get(params.id)))), {
      scope: "read",
      params: IdParams,
      response: { 200: TeamView, ...errorResponses(401, 403, 404, 422) },
      detail: { summary: "Get a team", description: "With its spend, reservations, remaining budget and period start, as a proxy key shows its own." },
    })
    .patch("/:id", async ({ params, body, actor }) => changed(unwrap(await service.update(actor.id, params.id, body))), {
      scope: "admin",
      params: IdParams,
      parse: "application/json",
      body: UpdateTeamBody,
      response: { 200: ChangedTeamView, ...errorResponses(400, 401, 403, 404, 409, 422) },
      detail: {
        summary: "Update a team",
        description:
          "Rename, change limits (null removes one) or metadata; applies from each key's next request. A `budget_usd` at or below what the team spent this period is accepted and refuses the team's keys from then on: `warnings` says so.",
      },
    })
    .post("/:id/disable", async ({ params, actor }) => view(unwrap(await service.setDisabled(actor.id, params.id, true))), {
      scope: "admin",
      params: IdParams,
      response: { 200: TeamView, ...errorResponses(401, 403, 404, 422) },
      detail: {
        summary: "Disable a team",
        description: "Every key of the team is refused on its next request with 403 `team_disabled`, until the team is enabled again. Idempotent.",
      },
    })
    .post("/:id/enable", async ({ params, actor }) => view(unwrap(await service.setDisabled(actor.id, params.id, false))), {
      scope: "admin",
      params: IdParams,
      response: { 200: TeamView, ...errorResponses(401, 403, 404, 422) },
      detail: { summary: "Enable a team", description: "Its keys work again from their next request. Idempotent." },
    })
    .delete(
      "/:id",
      async ({ params, actor }) => {
        unwrap(await service.remove(actor.id, params.id));
        return { deleted: true as const, id: params.id };
      },
      {
        scope: "admin",
        params: IdParams,
        response: {
          200: t.Object({ deleted: t.Literal(true), id: t.String() }, { title: "DeletedTeam" }),
          ...errorResponses(401, 403, 404, 409, 422),
        },
        detail: {
          summary: "Delete a team",
          description:
            "Refused with 409 while proxy keys belong to it (revoked and expired ones too): move them to another team or to none (`PATCH /api/proxy-keys/{id}` with `team_id`), or delete them, first.",
        },
      },
    );
}
