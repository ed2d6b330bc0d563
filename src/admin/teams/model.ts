import { t } from "elysia";
import type { TeamRow } from "../../db/store.ts";
import { budgetFigures, limitFigures, type SpendView } from "../../limits/balance.ts";
import { MAX_USD, microsToUsd } from "../../limits/money.ts";
import { BUDGET_PERIODS } from "../../limits/period.ts";
import { iso, NO_CONTROL_CHARS, pageModel } from "../pagination.ts";

const Name = t.String({
  minLength: 1,
  maxLength: 100,
  pattern: NO_CONTROL_CHARS,
  description: "Unique; refusals of its keys name it (`team hack-2026 has $0.40 of its budget left`)",
  examples: ["hack-2026"],
});
const Metadata = t.Record(t.String({ maxLength: 100 }), t.Union([t.String({ maxLength: 1000 }), t.Number(), t.Boolean(), t.Null()]), {
  maxProperties: 50,
  description: "Free-form labels (cost centre, owner, event); never secrets",
  examples: [{ cost_centre: "R&D", owner: "events@example.com" }],
});
const ModelName = t.String({ minLength: 1, maxLength: 200, pattern: NO_CONTROL_CHARS });
const PositiveLimit = (description: string, example: number) => t.Integer({ minimum: 1, maximum: 1_000_000_000, description, examples: [example] });
const BudgetUsd = t.Number({
  minimum: 0,
  maximum: MAX_USD,
  description: "Spending cap in USD per budget_period, shared by all the team's keys; each request reserves its worst case against it and its key's own budget",
  examples: [1000],
});
const ALLOWED_MODELS = "Only these models (exact names), for every key of the team, on top of each key's own list; absent: any";
const PERIOD = "When the team's spend resets (UTC; weeks start Monday)";

export const CreateTeamBody = t.Object(
  {
    name: Name,
    allowed_models: t.Optional(t.Array(ModelName, { maxItems: 200, description: ALLOWED_MODELS, examples: [["gpt-4o-mini"]] })),
    rpm: t.Optional(PositiveLimit("Requests per minute, all the team's keys together", 600)),
    tpm: t.Optional(PositiveLimit("Tokens (input + output) per minute, all the team's keys together", 1_000_000)),
    max_concurrency: t.Optional(PositiveLimit("Requests in flight at once, all the team's keys together", 50)),
    budget_usd: t.Optional(BudgetUsd),
    budget_period: t.Optional(t.UnionEnum(BUDGET_PERIODS, { default: "total", description: PERIOD })),
    metadata: t.Optional(Metadata),
  },
  { additionalProperties: false, title: "CreateTeam" },
);

const nullable = <T extends ReturnType<typeof t.Integer> | ReturnType<typeof t.Number> | ReturnType<typeof t.Array>>(schema: T) =>
  t.Optional(t.Union([schema, t.Null()], { description: `${schema.description ?? ""}; null removes the limit` }));

export const UpdateTeamBody = t.Object(
  {
    name: t.Optional(Name),
    allowed_models: nullable(t.Array(ModelName, { maxItems: 200, description: ALLOWED_MODELS })),
    rpm: nullable(PositiveLimit("Requests per minute, all the team's keys together", 600)),
    tpm: nullable(PositiveLimit("Tokens per minute, all the team's keys together", 1_000_000)),
    max_concurrency: nullable(PositiveLimit("Requests in flight at once, all the team's keys together", 50)),
    budget_usd: t.Optional(
      t.Union([BudgetUsd, t.Null()], {
        description:
          "New cap, or null to remove it. A cap at or below what the team spent this period is accepted, and refuses every key's next request that costs anything; the answer's `warnings` says so",
        examples: [500],
      }),
    ),
    // Not t.UnionEnum nor a default: Elysia would fill them into an absent optional field, and every PATCH would reset the period.
    budget_period: t.Optional(
      t.Union(
        BUDGET_PERIODS.map((p) => t.Literal(p)),
        { description: `${PERIOD}. A shorter period starts afresh; a longer one keeps the spend` },
      ),
    ),
    metadata: t.Optional(t.Union([Metadata, t.Null()])),
  },
  { additionalProperties: false, minProperties: 1, title: "UpdateTeam" },
);

const TeamFields = {
  id: t.String({ examples: ["tm_4fJ2q0sLxkT9"] }),
  name: t.String({ examples: ["hack-2026"] }),
  disabled: t.Boolean({ description: "Every key of a disabled team is refused (403 team_disabled)" }),
  allowed_models: t.Union([t.Array(t.String()), t.Null()]),
  rpm: t.Union([t.Integer(), t.Null()]),
  tpm: t.Union([t.Integer(), t.Null()]),
  max_concurrency: t.Union([t.Integer(), t.Null()]),
  budget_usd: t.Union([t.Number(), t.Null()], { examples: [1000] }),
  budget_period: t.UnionEnum(BUDGET_PERIODS),
  spend_usd: t.Number({ description: "Settled spend of all the team's keys in the current period (since each joined)", examples: [612.5] }),
  reserved_usd: t.Number({ description: "Held for the team's requests in flight", examples: [0.42] }),
  budget_remaining_usd: t.Union([t.Number(), t.Null()], {
    description: "budget_usd − spend_usd (negative once past it); null without a budget",
    examples: [387.5],
  }),
  period_started_at: t.String({ format: "date-time", description: "Start of the current budget period (the team's creation for total)" }),
  metadata: t.Union([t.Record(t.String(), t.Unknown()), t.Null()]),
  created_by: t.Union([t.String(), t.Null()], { description: "Admin token id that created the team" }),
  created_at: t.String({ format: "date-time" }),
  updated_at: t.String({ format: "date-time" }),
};

export const TeamView = t.Object(TeamFields, { title: "Team" });

export const ChangedTeamView = t.Object(
  {
    ...TeamFields,
    warnings: t.Array(t.String(), {
      description: "What the change means beyond itself, e.g. a budget at or below the period's spend, which refuses the team's keys from their next request",
      examples: [["budget_usd 500 is at or below what team hack-2026 spent this period ($612.50): its keys are refused until the budget is raised"]],
    }),
  },
  { title: "ChangedTeam" },
);

export const TeamPage = pageModel(TeamView, "TeamPage");

export function teamView(row: TeamRow, spend: SpendView) {
  const budget = budgetFigures(row, spend);
  return {
    id: row.id,
    name: row.name,
    disabled: row.disabled,
    ...limitFigures(row),
    budget_usd: budget.budget_usd,
    budget_period: budget.budget_period,
    spend_usd: budget.spend_usd,
    reserved_usd: budget.reserved_usd,
    budget_remaining_usd: budget.remaining_usd,
    period_started_at: budget.period_started_at,
    metadata: row.metadata ?? null,
    created_by: row.createdBy,
    created_at: iso(row.createdAt) as string,
    updated_at: iso(row.updatedAt) as string,
  };
}

/** A team's budget already spent: accepted, but every key of it is refused from now on. Said in the answer to the change. */
export function teamWarnings(row: TeamRow, spend: SpendView): string[] {
  if (row.budgetMicros === null || spend.spendMicros < row.budgetMicros) return [];
  const until = row.budgetPeriod === "total" ? "until the budget is raised" : "until the period resets or the budget is raised";
  return [
    `budget_usd ${microsToUsd(row.budgetMicros)} is at or below what team ${row.name} spent this period ($${microsToUsd(spend.spendMicros)}): its keys are refused ${until}`,
  ];
}
