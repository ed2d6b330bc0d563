import { Elysia, t, type Static } from "elysia";
import type { ActorId } from "../../changes/audit.ts";
import { MAX_USD, microsToUsd, usdToMicros } from "../../limits/money.ts";
import { BUILTIN_PRICE_SOURCES, BUILTIN_PRICES_AS_OF } from "../../limits/prices-builtin.ts";
import type { PriceBook, PriceListing, Rates } from "../../limits/pricing.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { ApiError, errorResponses } from "../errors.ts";
import { NO_CONTROL_CHARS, noCursorWritten, PageQuery, readCursor } from "../pagination.ts";

const PerMillion = (description: string, example: number) =>
  t.Number({ minimum: 0, maximum: MAX_USD, description: `${description}, USD per million tokens`, examples: [example] });

const LongContextView = t.Object(
  {
    above_input_tokens: t.Integer({ description: "These rates apply to the whole request once its input exceeds this many tokens", examples: [200_000] }),
    input_per_million_usd: t.Number(),
    cached_input_per_million_usd: t.Union([t.Number(), t.Null()]),
    output_per_million_usd: t.Number(),
  },
  { title: "LongContextPrice", description: "Built-in only: an override is a single rate, so a budgeted key then meters every prompt at it" },
);

const TierView = t.Object({
  input_per_million_usd: t.Number(),
  cached_input_per_million_usd: t.Union([t.Number(), t.Null()]),
  output_per_million_usd: t.Number(),
  long_context: t.Optional(LongContextView),
});

const PriceView = t.Object(
  {
    model: t.String({ examples: ["gpt-4o"] }),
    input_per_million_usd: t.Number(),
    cached_input_per_million_usd: t.Union([t.Number(), t.Null()]),
    output_per_million_usd: t.Number(),
    source: t.UnionEnum(["builtin", "override"], { description: "override: set through this API" }),
    long_context: t.Optional(LongContextView),
    tiers: t.Optional(
      t.Record(t.String(), TierView, {
        description:
          "Built-in rates for a non-standard `service_tier` (`priority`, `flex`). A budgeted key refuses a tier its model has no rate for, except `flex`, metered at the standard rate",
      }),
    ),
  },
  { title: "Price" },
);

const ModelParams = t.Object({
  model: t.String({ minLength: 1, maxLength: 200, pattern: NO_CONTROL_CHARS, description: "Model name as clients send it", examples: ["gpt-4o"] }),
});

const SetPriceBody = t.Object(
  {
    input_per_million_usd: PerMillion("Input", 2.5),
    output_per_million_usd: PerMillion("Output", 10),
    cached_input_per_million_usd: t.Optional(PerMillion("Cached input", 1.25)),
  },
  { additionalProperties: false, title: "SetPrice" },
);

function ratesView(r: Rates) {
  const long = r.longContext;
  return {
    input_per_million_usd: microsToUsd(r.inputMicros),
    cached_input_per_million_usd: r.cachedInputMicros === null ? null : microsToUsd(r.cachedInputMicros),
    output_per_million_usd: microsToUsd(r.outputMicros),
    ...(long && {
      long_context: {
        above_input_tokens: long.aboveInputTokens,
        input_per_million_usd: microsToUsd(long.inputMicros),
        cached_input_per_million_usd: long.cachedInputMicros === undefined ? null : microsToUsd(long.cachedInputMicros),
        output_per_million_usd: microsToUsd(long.outputMicros),
      },
    }),
  };
}

function priceView(p: PriceListing) {
  const tiers = p.price.tiers;
  return {
    model: p.model,
    ...ratesView(p.price),
    source: p.source,
    ...(tiers && { tiers: Object.fromEntries(Object.entries(tiers).map(([name, rates]) => [name, ratesView(rates)])) }),
  };
}

/** Stores the override in micro-dollars and answers it as listed, so the answer shows what now applies. */
async function setPrice(prices: PriceBook, actor: ActorId, price: { model: string; body: Static<typeof SetPriceBody> }) {
  const { model, body } = price;
  await prices.set(actor, model, {
    inputMicros: usdToMicros(body.input_per_million_usd),
    cachedInputMicros: body.cached_input_per_million_usd === undefined ? null : usdToMicros(body.cached_input_per_million_usd),
    outputMicros: usdToMicros(body.output_per_million_usd),
  });
  const listed = prices.list().find((p) => p.model === model);
  if (!listed) throw new ApiError({ code: "internal_error", message: "Cannot read back the price just set" });
  return priceView(listed);
}

export function priceRoutes(auth: AdminAuthDeps, prices: PriceBook) {
  return new Elysia({ name: "admin.prices", prefix: "/prices", detail: { tags: ["Prices"] } })
    .use(adminAuth(auth))
    .get(
      "",
      ({ query }) => {
        readCursor(query.cursor, noCursorWritten);
        return {
          data: prices.list().map(priceView),
          next_cursor: null,
          builtin_as_of: BUILTIN_PRICES_AS_OF,
          builtin_sources: [...BUILTIN_PRICE_SOURCES],
        };
      },
      {
        scope: "read",
        query: t.Object({ cursor: PageQuery.cursor }),
        response: {
          200: t.Object(
            {
              data: t.Array(PriceView),
              next_cursor: t.Null(),
              builtin_as_of: t.String({
                format: "date",
                description: "The day the built-in prices were last checked against the providers' pricing pages",
                examples: [BUILTIN_PRICES_AS_OF],
              }),
              builtin_sources: t.Array(t.String({ format: "uri" }), {
                description: "The providers' public pricing pages the built-in prices come from",
                examples: [[...BUILTIN_PRICE_SOURCES]],
              }),
            },
            { title: "PriceList" },
          ),
          ...errorResponses(401, 403, 422),
        },
        detail: {
          summary: "List model prices",
          description:
            "Built-in prices and overrides. A model is priced by its exact name, else by the name without a date suffix (`gpt-4o-2024-08-06` as `gpt-4o`, `claude-sonnet-4-5-20250929` as `claude-sonnet-4-5`); nothing else matches, so a key with a budget refuses any other model until it is priced here.",
        },
      },
    )
    .put("/:model", ({ params, body, actor }) => setPrice(prices, actor.id, { model: params.model, body }), {
      scope: "admin",
      params: ModelParams,
      parse: "application/json",
      body: SetPriceBody,
      response: { 200: PriceView, ...errorResponses(400, 401, 403, 422) },
      detail: { summary: "Set a model's price", description: "Overrides a built-in price or adds a model (e.g. an Azure deployment name)." },
    })
    .delete(
      "/:model",
      async ({ params, actor }) => {
        if (!(await prices.remove(actor.id, params.model))) {
          throw new ApiError({ code: "not_found", message: `Cannot delete price: ${params.model} has no override` });
        }
        return { deleted: true as const, model: params.model };
      },
      {
        scope: "admin",
        params: ModelParams,
        response: {
          200: t.Object({ deleted: t.Literal(true), model: t.String() }, { title: "DeletedPrice" }),
          ...errorResponses(401, 403, 404, 422),
        },
        detail: { summary: "Remove a price override", description: "The built-in price, if any, applies again." },
      },
    );
}
