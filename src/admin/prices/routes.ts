import { Elysia, t } from "elysia";
import { MAX_USD, microsToUsd, usdToMicros } from "../../limits/money.ts";
import type { PriceBook, PriceListing } from "../../limits/pricing.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { ApiError, errorResponses } from "../errors.ts";
import { NO_CONTROL_CHARS } from "../pagination.ts";

const PerMillion = (description: string, example: number) =>
  t.Number({ minimum: 0, maximum: MAX_USD, description: `${description}, USD per million tokens`, examples: [example] });

const PriceView = t.Object(
  {
    model: t.String({ examples: ["gpt-4o"] }),
    input_per_million_usd: t.Number(),
    cached_input_per_million_usd: t.Union([t.Number(), t.Null()]),
    output_per_million_usd: t.Number(),
    source: t.UnionEnum(["builtin", "override"], { description: "override: set through this API" }),
  },
  { title: "Price" },
);

const ModelParams = t.Object({
  model: t.String({ minLength: 1, maxLength: 200, pattern: NO_CONTROL_CHARS, description: "Model name as clients send it", examples: ["gpt-4o"] }),
});

function priceView(p: PriceListing) {
  return {
    model: p.model,
    input_per_million_usd: microsToUsd(p.price.inputMicros),
    cached_input_per_million_usd: p.price.cachedInputMicros === null ? null : microsToUsd(p.price.cachedInputMicros),
    output_per_million_usd: microsToUsd(p.price.outputMicros),
    source: p.source,
  };
}

export function priceRoutes(auth: AdminAuthDeps, prices: PriceBook) {
  return new Elysia({ name: "admin.prices", prefix: "/prices", detail: { tags: ["Prices"] } })
    .use(adminAuth(auth))
    .get("", () => ({ data: prices.list().map(priceView), next_cursor: null }), {
      scope: "read",
      response: {
        200: t.Object({ data: t.Array(PriceView), next_cursor: t.Null() }, { title: "PriceList" }),
        ...errorResponses(401, 403),
      },
      detail: {
        summary: "List model prices",
        description:
          "Built-in prices and overrides. Dated model names (`gpt-4o-2024-08-06`, `claude-sonnet-4-5-20250929`) are priced by their base entry.",
      },
    })
    .put(
      "/:model",
      ({ params, body, actor }) => {
        prices.set(actor.id, params.model, {
          inputMicros: usdToMicros(body.input_per_million_usd),
          cachedInputMicros:
            body.cached_input_per_million_usd === undefined ? null : usdToMicros(body.cached_input_per_million_usd),
          outputMicros: usdToMicros(body.output_per_million_usd),
        });
        const listed = prices.list().find((p) => p.model === params.model);
        if (!listed) throw new ApiError({ code: "internal_error", message: "Cannot read back the price just set" });
        return priceView(listed);
      },
      {
        scope: "admin",
        params: ModelParams,
        parse: "application/json",
        body: t.Object(
          {
            input_per_million_usd: PerMillion("Input", 2.5),
            output_per_million_usd: PerMillion("Output", 10),
            cached_input_per_million_usd: t.Optional(PerMillion("Cached input", 1.25)),
          },
          { additionalProperties: false, title: "SetPrice" },
        ),
        response: { 200: PriceView, ...errorResponses(400, 401, 403, 422) },
        detail: { summary: "Set a model's price", description: "Overrides a built-in price or adds a model (e.g. an Azure deployment name)." },
      },
    )
    .delete(
      "/:model",
      ({ params, actor }) => {
        if (!prices.remove(actor.id, params.model)) {
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
