import { Elysia, t } from "elysia";
import type { Clock } from "../../clock.ts";
import { decodeCursor, pageOf } from "../../db/cursor.ts";
import { jsonResponse, type AdminReads } from "../reads.ts";
import type { ProxyKeyFilter, Store } from "../../db/store.ts";
import type { BudgetLedger } from "../../limits/budget.ts";
import type { CreatedProxyKey, ProxyKeyService, ProxyKeyStatus } from "../../vault/proxy-keys.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { errorResponses, unwrap } from "../errors.ts";
import { PageQuery, pageStream, readCursor } from "../pagination.ts";
import { csvStream } from "../csv.ts";
import { mintProxyKey } from "./mint.ts";
import { rotateRoute } from "./rotate.ts";
import { proxyKeyViews } from "./views.ts";
import { BatchCreateBody, CreatedProxyKeyView, CreateProxyKeyBody, ProxyKeyListQuery, ProxyKeyPage, ProxyKeyView, UpdateProxyKeyBody } from "./model.ts";

const IdParams = t.Object({ id: t.String({ maxLength: 64, description: "Proxy key id", examples: ["Zk3a9QmP0xYb"] }) });

/** Maps a derived status to the stored facts the store can filter on. */
function statusFilter(status: ProxyKeyStatus | undefined, now: number): ProxyKeyFilter {
  switch (status) {
    case undefined:
      return {};
    case "revoked":
      return { revoked: true };
    case "expired":
      return { revoked: false, expiredBefore: now };
    case "provider-disabled":
      return { revoked: false, activeAt: now, providerDisabled: true };
    case "active":
      return { revoked: false, activeAt: now, providerDisabled: false };
  }
}

const BATCH_CSV_COLUMNS = ["name", "key", "id", "expires_at", "budget_usd", "budget_period", "rpm", "team_id"] as const;

type Auth = AdminAuthDeps & { store: Store; clock: Clock };
type Views = ReturnType<typeof proxyKeyViews>;

export function proxyKeyRoutes(auth: Auth, service: ProxyKeyService, ledger: BudgetLedger, reads: AdminReads) {
  const views = proxyKeyViews(auth.store, auth.clock, ledger);
  return new Elysia({ name: "admin.proxy-keys" })
    .use(mintRoutes(auth, service, views))
    .use(keyRoutes(auth, service, views, reads))
    .use(rotateRoute(auth, service, views));
}

/** A batch as a CSV download, named after its prefix, for a mail merge; streamed, each row made as it is written. */
function batchCsv(namePrefix: string, created: CreatedProxyKey[], createdView: Views["createdView"]): Response {
  return new Response(
    csvStream(BATCH_CSV_COLUMNS, created, (c) => createdView(c.row, c.key)),
    {
      status: 201,
      headers: {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": `attachment; filename="${namePrefix.replace(/[^A-Za-z0-9_-]/g, "_")}-keys.csv"`,
      },
    },
  );
}

/** Minting: one key (admins, and keys:issue tokens within their policy) or a batch (admins). */
function mintRoutes(auth: Auth, service: ProxyKeyService, views: Views) {
  const { createdView } = views;
  return new Elysia({ name: "admin.proxy-keys.mint", prefix: "/proxy-keys", detail: { tags: ["Proxy keys"] } })
    .use(adminAuth(auth))
    .post(
      "",
      async ({ body, actor, status }) => {
        const created = unwrap(await mintProxyKey(auth.store, service, actor, body, auth.clock.now()));
        return status(201, createdView(created.row, created.key));
      },
      {
        scope: ["admin", "keys:issue"],
        parse: "application/json",
        body: CreateProxyKeyBody,
        response: { 201: CreatedProxyKeyView, ...errorResponses(400, 401, 403, 404, 422) },
        detail: {
          summary: "Mint a proxy key",
          description: [
            "Returns the full `kwp_…` key once, with the `provider` behind it. Give `expires_at` or `ttl_seconds` (not both) for a key that dies on its own.",
            "",
            "**Admin tokens** give `name` and `provider_key_id` (or `provider_key`, an id or a name).",
            "",
            "**keys:issue tokens** (CI) mint only inside their policy: `provider_key` (id or name) must be one of the policy's provider keys; `ttl_seconds` and `budget_usd` default to, and may not exceed, the policy's maxima; the name must start with the policy's `name_prefix` (generated when absent); `allowed_models` defaults to, and must be a subset of, the policy's. Anything beyond answers 403 naming the bound.",
          ].join("\n"),
        },
      },
    )
    .post(
      "/batch",
      async ({ body, actor, headers }) => {
        const created = unwrap(await service.createBatch(actor.id, body));
        // Views made as they are written, each provider key read once for the whole batch.
        const { createdView } = views.many();
        if ((headers.accept ?? "").includes("text/csv")) return batchCsv(body.name_prefix, created, createdView);
        // Streamed too (the schema below still documents the answer).
        return pageStream(created, (c) => createdView(c.row, c.key), { status: 201 });
      },
      {
        scope: "admin",
        parse: "application/json",
        body: BatchCreateBody,
        response: {
          201: t.Object({ data: t.Array(CreatedProxyKeyView), next_cursor: t.Null() }, { title: "CreatedProxyKeyBatch" }),
          ...errorResponses(400, 401, 403, 404, 422),
        },
        detail: {
          summary: "Mint many proxy keys at once",
          description:
            "Up to 1000 keys with the same provider key, limits, expiry and team, named `<name_prefix>-001`… All or nothing. With `team_id` every key joins that team (an event's shared cap: create the team first). Send `Accept: text/csv` for a CSV (name, key, id, expires_at, budget_usd, budget_period, rpm, team_id) ready for a mail merge. Keys are shown only in this response.",
        },
      },
    );
}

/** Listing, reading, changing, revoking and deleting keys. */
function keyRoutes(auth: Auth, service: ProxyKeyService, views: Views, reads: AdminReads) {
  const { view } = views;
  return new Elysia({ name: "admin.proxy-keys.keys", prefix: "/proxy-keys", detail: { tags: ["Proxy keys"] } })
    .use(adminAuth(auth))
    .get(
      "",
      async ({ query }) => {
        const now = auth.clock.now();
        const filter = { ...statusFilter(query.status, now), providerKeyId: query.provider_key_id };
        const limit = query.limit ?? 50;
        const asked = { limit: limit + 1, after: readCursor(query.cursor, decodeCursor) };
        // Read, and the page made, by the read worker (src/db/reads.ts): a status filter can walk many of 100k
        // keys, and making 200 views here took the serving thread from proxied requests. Made from the spend the
        // rows store: sent as it is unless a key on the page is spending now, or other instances share budgets.
        if (views.storedPagesUsable()) {
          const stored = await reads.read("proxyKeyPageBody", asked, filter, limit, now);
          if (views.storedSpendHolds(stored.budgets, now)) return jsonResponse(stored.body);
        }
        const page = pageOf(await reads.read("proxyKeyPage", asked, filter), limit);
        await views.refresh(page.rows);
        // Serialised here rather than checked against the schema first (which documents it): for a page of 200
        // keys the check cost the serving thread more than making the views (test/bench/README.md).
        return pageStream(page.rows, views.many().view, { nextCursor: page.nextCursor });
      },
      {
        scope: "read",
        query: t.Object({ ...PageQuery, ...ProxyKeyListQuery.properties }),
        response: { 200: ProxyKeyPage, ...errorResponses(401, 403, 422) },
        detail: { summary: "List proxy keys", description: "Newest first; filter by provider key and status." },
      },
    )
    .get(
      "/:id",
      async ({ params }) => {
        const row = unwrap(service.get(params.id));
        // With several instances, spend includes what the others reported (no round trip otherwise).
        await views.refresh([row]);
        return view(row);
      },
      {
        scope: "read",
        params: IdParams,
        response: { 200: ProxyKeyView, ...errorResponses(401, 403, 404, 422) },
        detail: { summary: "Get a proxy key" },
      },
    )
    .patch("/:id", async ({ params, body, actor }) => view(unwrap(await service.update(actor.id, params.id, body))), {
      scope: "admin",
      params: IdParams,
      parse: "application/json",
      body: UpdateProxyKeyBody,
      response: { 200: ProxyKeyView, ...errorResponses(400, 401, 403, 404, 409, 422) },
      detail: {
        summary: "Update a proxy key",
        description:
          "Rename, change expiry (null clears it), metadata or limits, or move the key to another team (`team_id`; null for none). A moved key keeps its own spend; its new team counts the key's spend from the move.",
      },
    })
    .post("/:id/revoke", async ({ params, actor }) => view(unwrap(await service.revoke(actor.id, params.id))), {
      scope: "admin",
      params: IdParams,
      response: { 200: ProxyKeyView, ...errorResponses(401, 403, 404, 422) },
      detail: { summary: "Revoke a proxy key", description: "Takes effect on the next request. Idempotent." },
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
          200: t.Object({ deleted: t.Literal(true), id: t.String() }, { title: "DeletedProxyKey" }),
          ...errorResponses(401, 403, 404, 422),
        },
        detail: { summary: "Delete a proxy key", description: "Removes the record; the audit log keeps the id." },
      },
    );
}
