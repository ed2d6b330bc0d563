import type { ProxyKeyRow, TeamRow } from "../db/store.ts";
import { readLimitedBody } from "../limits/reading.ts";
import { checkLimitFields, promptTokensBound } from "../limits/request-shape.ts";
import { STANDARD_TERMS } from "../limits/tiers.ts";
import { findEndpoint, type Endpoint } from "../providers/endpoints.ts";
import type { Authenticated } from "./authenticate.ts";
import { prepareBatchCreate, prepareInlineBatch } from "./batch-create.ts";
import { prepareBatchInput } from "./batch-upload.ts";
import { decodeBody, decodedStream } from "./body-encoding.ts";
import { readBody, strictJsonObject } from "./body.ts";
import { bodyRefusalError, ProxyError } from "./errors.ts";
import { readLimitedForm } from "./form.ts";
import { sessionOf } from "./ownership.ts";
import { readPassthroughFacts, withStreamUsage } from "./passthrough.ts";
import { clip, type Prepared, type ProxyRun } from "./run.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Limits that depend on what the body asks for: which model, how many tokens. The key's team's count as the key's. */
export function limitsReadBody(row: ProxyKeyRow, team?: TeamRow): boolean {
  const reads = (limits: ProxyKeyRow | TeamRow) => limits.budgetMicros !== null || limits.allowedModels !== null || limits.tpm !== null;
  return reads(row) || (team !== undefined && reads(team));
}

/** A budget applies to the request: the key's own, or its team's. */
const budgeted = ({ proxyKey, team }: Authenticated) => proxyKey.budgetMicros !== null || (team !== undefined && team.budgetMicros !== null);

/** Reads the body, admits the request against the key's limits, and decides what goes upstream. */
export async function prepareRequest(run: ProxyRun, request: Request, auth: Authenticated): Promise<Prepared> {
  const { deps, trace } = run;
  const found = findEndpoint(auth.providerKey.adapter.endpoints, request.method, trace.path);
  const endpoint = found?.endpoint;
  run.endpoint = endpoint;
  if (found) run.groups = found.groups;
  sessionOf(run, request.url);
  const limited = limitsReadBody(auth.proxyKey, auth.team);
  if (limited && !endpoint) {
    throw new ProxyError("endpoint_not_allowed", `Cannot forward ${request.method} /v1${clip(trace.path)}: this key's limits cannot meter that endpoint`);
  }
  if (limited && endpoint?.refuseLimited !== undefined) {
    throw new ProxyError("endpoint_not_allowed", `Cannot forward ${endpoint.name} for a key with limits: ${endpoint.refuseLimited}`);
  }
  const maxBytes = endpoint?.maxBodyBytes ?? deps.maxBodyBytes;
  // A file that may be a batch's input is read as it goes through: a batch made from it runs its lines unseen.
  if (limited && endpoint?.batchInput && request.body) {
    run.admit(auth.proxyKey, {});
    return prepareBatchInput(run, request, auth, endpoint.batchInput, maxBytes);
  }
  // Uploads larger than the JSON cap go through as they arrive, unless the key's limits must read them first.
  if (endpoint?.maxBodyBytes && !(limited && endpoint.form?.model !== undefined) && request.body) {
    const model = modelNamedOutside(run, auth);
    if (model !== undefined) run.trace.model = clip(model);
    run.admit(auth.proxyKey, {});
    return { body: decodedStream(request, maxBytes), injectUsage: false };
  }
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  const raw = hasBody ? await readBody(request, maxBytes) : undefined;
  const encoding = request.headers.get("content-encoding");
  const body = raw && encoding !== null ? await decodeBody(raw, encoding, maxBytes) : raw;
  if (limited && endpoint?.batch?.requests === "file") return prepareBatchCreate(run, auth, body);
  if (limited && endpoint?.batch?.requests === "inline") return prepareInlineBatch(run, auth, endpoint.batch, body);
  if (limited && endpoint?.body) return prepareLimited(run, auth, endpoint, body);
  if (limited && endpoint?.billing === "units") return prepareUnits(run, request, auth, endpoint, body);
  return preparePassthrough(run, request, auth, body);
}

/** The model an endpoint names outside its body: in the URL (Gemini) or through an Azure deployment. */
function modelOutsideBody(run: ProxyRun, auth: Authenticated, endpoint: Endpoint): string | undefined {
  if (endpoint.modelFrom === "path") return decoded(run.groups.model);
  if (endpoint.modelFrom === "deployment") {
    const deployment = decoded(run.groups.deployment) ?? "";
    const model = deploymentModel(auth, deployment);
    if (model === undefined) {
      throw new ProxyError(
        "endpoint_not_allowed",
        `Cannot meter deployment ${clip(deployment)}: its provider key maps no model to it; an admin can add it to the provider key's deployments`,
      );
    }
    return model;
  }
  return undefined;
}

/** For the log: what runs, the URL's model (Gemini) or the one an Azure deployment maps to, if the provider key maps it. */
function modelNamedOutside(run: ProxyRun, auth: Authenticated): string | undefined {
  const modelFrom = run.endpoint?.modelFrom;
  if (modelFrom === "path") return decoded(run.groups.model);
  return modelFrom === "deployment" ? deploymentModel(auth, decoded(run.groups.deployment) ?? "") : undefined;
}

/** The model the provider key maps a deployment to (its own entries only: a deployment named `constructor` maps to nothing). */
function deploymentModel({ providerKey }: Authenticated, deployment: string): string | undefined {
  const deployments = providerKey.row.deployments;
  return deployments && Object.hasOwn(deployments, deployment) ? deployments[deployment] : undefined;
}

function decoded(segment: string | undefined): string | undefined {
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * A key whose limits read the body gets one strict reading of it: the bound
 * is written into it, it is admitted on that reading, and exactly that
 * reading goes upstream, serialised again.
 */
function prepareLimited(run: ProxyRun, auth: Authenticated, endpoint: Endpoint, body: Uint8Array | undefined): Prepared {
  const { deps, trace } = run;
  const { proxyKey, providerKey } = auth;
  const fields = endpoint.body;
  if (!fields || !body) throw new ProxyError("invalid_request", `Cannot read request: ${endpoint.name} takes a JSON body`);
  const read = readLimitedBody(decoder.decode(body), fields, {
    provider: providerKey.adapter.id,
    defaultMaxTokens: deps.defaultMaxTokens,
    bindsCost: budgeted(auth) || proxyKey.tpm !== null || (auth.team !== undefined && auth.team.tpm !== null),
    priced: budgeted(auth),
    unboundedReservationMicros: proxyKey.unboundedReservationMicros,
    model: modelOutsideBody(run, auth, endpoint),
  });
  if (!read.ok) throw bodyRefusalError(read.refusal);
  const { json, model, stream, clientIncludeUsage } = read.body;
  trace.model = clip(model);
  trace.streamed = stream || endpoint.name.endsWith("streamGenerateContent");
  const injectUsage = shouldInjectUsage(auth, endpoint.streamUsage === true, stream, clientIncludeUsage);
  if (injectUsage) {
    const existing = typeof json.stream_options === "object" && json.stream_options !== null ? json.stream_options : {};
    json.stream_options = { ...existing, include_usage: true };
  }
  const bytes = encoder.encode(JSON.stringify(json));
  run.bounded = true;
  run.admit(proxyKey, {
    bound: {
      model,
      promptTokens: promptTokensBound(json, bytes.byteLength),
      outputTokens: read.body.outputTokens,
      extraMicros: read.body.extraMicros,
      terms: read.body.terms,
      byTokens: true,
    },
  });
  return { body: bytes, contentType: "application/json", injectUsage, json };
}

/** JSON bodies of unit-priced endpoints: only the model matters to the limits. */
const MODEL_ONLY = { model: "model", outputCaps: [], outputMultipliers: [] } as const;

/**
 * Endpoints priced per image, second or character (or stored byte), which
 * keyward has no table for: a budgeted key reserves its
 * `unbounded_reservation_usd` or is refused, and the key's limits still see one
 * reading of the model (JSON or form, encoded again). A request that names no
 * model at all (`namesNoModel`) is refused to a key with `allowed_models`.
 */
async function prepareUnits(
  run: ProxyRun,
  request: Request,
  auth: Authenticated,
  endpoint: Endpoint,
  body: Uint8Array<ArrayBuffer> | undefined,
): Promise<Prepared> {
  const { proxyKey } = auth;
  const reservation = proxyKey.unboundedReservationMicros;
  if (budgeted(auth) && reservation === null) {
    throw new ProxyError(
      "cost_not_bounded",
      `Cannot meter ${endpoint.name}: it is priced per image, second, character or stored byte, which keyward cannot bound; an admin can allow it on this key with unbounded_reservation_usd`,
    );
  }
  if (endpoint.namesNoModel !== undefined && (proxyKey.allowedModels !== null || (auth.team !== undefined && auth.team.allowedModels !== null))) {
    throw new ProxyError("endpoint_not_allowed", `Cannot forward ${endpoint.name}: it names no model, so this key's allowed_models cannot be checked`);
  }
  const contentType = request.headers.get("content-type") ?? "";
  // An Azure deployment runs its own model, whatever the body says.
  let model = modelOutsideBody(run, auth, endpoint);
  let prepared: Prepared;
  if (endpoint.form !== undefined) {
    if (!body) throw new ProxyError("invalid_request", `Cannot read request: ${endpoint.name} takes a multipart form`);
    const form = await readLimitedForm(body, contentType, endpoint.form.model ?? "model");
    model ??= form.model;
    prepared = { body: form.body, contentType: form.contentType, injectUsage: false };
  } else {
    const json = strictJsonObject(body, endpoint.name);
    const fieldError = checkLimitFields(json, MODEL_ONLY);
    if (fieldError) throw new ProxyError("invalid_request", fieldError.message, { param: fieldError.field });
    model ??= typeof json.model === "string" ? json.model : undefined;
    prepared = { body: encoder.encode(JSON.stringify(json)), contentType: "application/json", injectUsage: false, json };
  }
  if (model === undefined && endpoint.namesNoModel === undefined)
    throw new ProxyError("invalid_request", "Cannot meter request: it names no model, and this key's limits need one", { param: "model" });
  if (model !== undefined) run.trace.model = clip(model);
  run.bounded = true;
  run.admit(proxyKey, {
    // Without a model (checked above: the key has no allowed_models) the endpoint stands in; nothing is priced by tokens.
    bound: { model: model ?? endpoint.name, promptTokens: 0, outputTokens: 0, extraMicros: reservation ?? 0, terms: STANDARD_TERMS, byTokens: false },
  });
  return prepared;
}

/** Keys whose limits do not read the body forward the client's bytes, adding a stream-usage request at most. */
function preparePassthrough(run: ProxyRun, request: Request, auth: Authenticated, body: Uint8Array<ArrayBuffer> | undefined): Prepared {
  const { trace } = run;
  const text = body && (request.headers.get("content-type") ?? "").includes("json") ? decoder.decode(body) : undefined;
  const facts = text === undefined ? undefined : readPassthroughFacts(text);
  const model = modelNamedOutside(run, auth) ?? facts?.model;
  trace.model = model === undefined ? undefined : clip(model);
  trace.streamed = (facts?.stream ?? false) || (run.endpoint?.name.endsWith("streamGenerateContent") ?? false);
  run.admit(auth.proxyKey, { model });
  // Endpoints the registry does not know keep the old rule: chat streams, wherever their path starts.
  const streamUsage = run.endpoint ? run.endpoint.streamUsage === true : trace.path.endsWith("/chat/completions");
  const injectUsage = facts !== undefined && shouldInjectUsage(auth, streamUsage, facts.stream, facts.clientIncludeUsage);
  const sent = injectUsage && facts && body && text !== undefined ? withStreamUsage(facts, body, text) : body;
  return { body: sent, injectUsage, json: facts?.json };
}

/** OpenAI-style chat streams carry usage only when asked; keyward asks unless the client did or the provider key opts out. */
function shouldInjectUsage({ providerKey }: Authenticated, streamUsage: boolean, stream: boolean, clientIncludeUsage: boolean): boolean {
  return streamUsage && stream && providerKey.adapter.openaiStyleStreams && providerKey.row.injectStreamUsage && !clientIncludeUsage;
}
