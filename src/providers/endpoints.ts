/**
 * What each provider endpoint costs and where its cost is written: the one
 * place the proxy asks. An endpoint missing here is forwarded for keys without
 * limits and refused for keys whose limits read the body, since keyward could
 * neither price it nor bound it.
 */

/** `tokens`: priced by model and token usage. `free`: never charged (listings, stored objects read back, token counts). */
export type Billing = "tokens" | "free";

/** Where a token-billed endpoint keeps its model and the fields that bound its output, in the JSON body. */
export interface BodyFields {
  readonly model: "model";
  /** Every field the provider honours as an output bound; keyward sets each one it finds to the value it reserved for. */
  readonly outputCaps: readonly string[];
  /** Fields that multiply the output (choices generated). */
  readonly outputMultipliers: readonly string[];
  /** The cap written when the client set none; absent for endpoints with no output (embeddings). */
  readonly defaultCap?: string;
}

export interface Endpoint {
  /** For messages and logs, e.g. `chat.completions`. */
  readonly name: string;
  readonly method: "GET" | "POST" | "DELETE";
  /** Matches the path after `/v1`, without the query. */
  readonly path: RegExp;
  readonly billing: Billing;
  /** Token-billed endpoints only. */
  readonly body?: BodyFields;
  /** Streams carry usage only when asked (`stream_options.include_usage`), so keyward asks. */
  readonly streamUsage?: boolean;
}

const ID = "[A-Za-z0-9_.:-]+";

/** The OpenAI API as OpenAI, Azure's v1 API, Gemini's compatible endpoint and compatible servers serve it. */
export function openaiStyleEndpoints(options: { chatCap: "max_completion_tokens" | "max_tokens" }): readonly Endpoint[] {
  return [
    {
      name: "chat.completions",
      method: "POST",
      path: /^\/chat\/completions$/,
      billing: "tokens",
      body: { model: "model", outputCaps: ["max_tokens", "max_completion_tokens"], outputMultipliers: ["n"], defaultCap: options.chatCap },
      streamUsage: true,
    },
    {
      name: "responses",
      method: "POST",
      path: /^\/responses$/,
      billing: "tokens",
      body: { model: "model", outputCaps: ["max_output_tokens"], outputMultipliers: [], defaultCap: "max_output_tokens" },
    },
    {
      name: "completions",
      method: "POST",
      path: /^\/completions$/,
      billing: "tokens",
      // best_of completions are generated and billed; n of them are returned.
      body: { model: "model", outputCaps: ["max_tokens"], outputMultipliers: ["n", "best_of"], defaultCap: "max_tokens" },
    },
    {
      name: "embeddings",
      method: "POST",
      path: /^\/embeddings$/,
      billing: "tokens",
      body: { model: "model", outputCaps: [], outputMultipliers: [] },
    },
    { name: "models.list", method: "GET", path: /^\/models$/, billing: "free" },
    { name: "models.retrieve", method: "GET", path: new RegExp(`^/models/${ID}$`), billing: "free" },
    // A stored response was charged when it was created; reading it back is not charged again.
    { name: "responses.retrieve", method: "GET", path: new RegExp(`^/responses/${ID}$`), billing: "free" },
    { name: "responses.input_items", method: "GET", path: new RegExp(`^/responses/${ID}/input_items$`), billing: "free" },
    { name: "responses.cancel", method: "POST", path: new RegExp(`^/responses/${ID}/cancel$`), billing: "free" },
    { name: "responses.delete", method: "DELETE", path: new RegExp(`^/responses/${ID}$`), billing: "free" },
  ];
}

export const ANTHROPIC_ENDPOINTS: readonly Endpoint[] = [
  {
    name: "messages",
    method: "POST",
    path: /^\/messages$/,
    billing: "tokens",
    body: { model: "model", outputCaps: ["max_tokens"], outputMultipliers: [], defaultCap: "max_tokens" },
  },
  { name: "messages.count_tokens", method: "POST", path: /^\/messages\/count_tokens$/, billing: "free" },
  { name: "models.list", method: "GET", path: /^\/models$/, billing: "free" },
  { name: "models.retrieve", method: "GET", path: new RegExp(`^/models/${ID}$`), billing: "free" },
];

/** The endpoint a request calls, if the provider's registry knows it. */
export function findEndpoint(endpoints: readonly Endpoint[], method: string, path: string): Endpoint | undefined {
  for (const endpoint of endpoints) {
    if (endpoint.method === method && endpoint.path.test(path)) return endpoint;
  }
  return undefined;
}
