/**
 * Checks and bounds over a request body that parseStrictJson (strict-json.ts)
 * has already read: the fields a budget depends on must have one reading, the
 * prompt gets an upper bound in tokens, and whatever keyward cannot bound is
 * named. Nothing here knows HTTP or which provider is behind the endpoint
 * beyond the body shapes below (OpenAI Chat Completions, Completions and
 * Responses, Anthropic Messages, Gemini generateContent).
 *
 * Walks over the parsed value are iterative (an explicit stack), so depth
 * cannot overflow the JS stack.
 */
import { joinPath } from "./strict-json.ts";

/** Which top-level fields of an endpoint's body carry its model and bound its output. */
export interface LimitFields {
  /** `"model"` where the body names the model; absent where the URL does (Azure deployments, Gemini). */
  readonly model?: "model";
  /** Fields that cap output tokens. */
  readonly outputCaps: readonly string[];
  /** Fields that multiply output (one completion each). */
  readonly outputMultipliers: readonly string[];
  /** The object the caps and multipliers live in, when not the body itself (Gemini's `generationConfig`). */
  readonly container?: string;
}

export interface FieldError {
  field: string;
  message: string;
}

/**
 * Largest cap or multiplier accepted. Providers read these as 32-bit integers
 * (protobuf int32, Go and Java ints), and a larger value could wrap into a
 * different reading there than here. Every real cap is far below it.
 */
export const MAX_FIELD_INTEGER = 2_147_483_647;

/** Case and `_`/`-` folded away: the spellings a lenient server may map onto one field. */
function foldName(name: string): string {
  return name.toLowerCase().replace(/[_-]/g, "");
}

interface Governed {
  exact: Set<string>;
  /** Folded name → the real field name. */
  folded: Map<string, string>;
}

const governedCache = new WeakMap<LimitFields, Governed>();

const innerCache = new WeakMap<LimitFields, Governed>();

function governedSet(names: string[]): Governed {
  return { exact: new Set(names), folded: new Map(names.map((name) => [foldName(name), name])) };
}

/** The governed names of the body's top level. */
function governedNames(fields: LimitFields): Governed {
  let governed = governedCache.get(fields);
  if (!governed) {
    const bounds = fields.container ? [fields.container] : [...fields.outputCaps, ...fields.outputMultipliers];
    governed = governedSet([...(fields.model ? [fields.model] : []), ...bounds, "stream", "stream_options"]);
    governedCache.set(fields, governed);
  }
  return governed;
}

/** The governed names inside the container. */
function governedInner(fields: LimitFields): Governed {
  let governed = innerCache.get(fields);
  if (!governed) {
    governed = governedSet([...fields.outputCaps, ...fields.outputMultipliers]);
    innerCache.set(fields, governed);
  }
  return governed;
}

/** A key that differs from a governed field only in case or separators, where a lenient server could read it as that field. */
function lookAlike(object: Record<string, unknown>, governed: Governed, path: string): FieldError | undefined {
  for (const key in object) {
    if (governed.exact.has(key)) continue;
    const real = governed.folded.get(foldName(key));
    if (real !== undefined) {
      const field = path ? `${path}.${key}` : key;
      return { field, message: `Cannot read request: key ${JSON.stringify(field)} differs from ${JSON.stringify(real)} only in case or separators` };
    }
  }
  return undefined;
}

/** Where the caps and multipliers are: the body, or its container (absent is an empty one). */
function boundsScope(json: Record<string, unknown>, fields: LimitFields): Record<string, unknown> | undefined {
  if (!fields.container) return json;
  const scope = json[fields.container];
  if (scope === undefined || scope === null) return undefined;
  return isPlainObject(scope) ? scope : undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 0 && value <= MAX_FIELD_INTEGER;
}

/**
 * The fields a budget depends on, checked for the one reading keyward and the
 * provider must share. A lenient server coerces `"100"` to 100 and `true` to 1
 * where keyward would see no cap at all, so only JSON numbers that are whole,
 * positive and at most MAX_FIELD_INTEGER pass as caps and multipliers.
 *
 * `null` counts as absent for caps, multipliers, `stream_options` and its
 * `include_usage`: OpenAI documents these as nullable, and keyward then
 * applies its own default (or writes the cap) just as for a missing field.
 * `stream` must be a boolean when present: no SDK sends null for it.
 *
 * A top-level key that differs from one of these fields only in case or in
 * `_`/`-` (`MAX_TOKENS`, `maxTokens`) is refused too: Go's encoding/json,
 * among others, matches field names case-insensitively, so a provider could
 * read `"MAX_TOKENS":100000` as the cap keyward never saw.
 */
export function checkLimitFields(json: Record<string, unknown>, fields: LimitFields): FieldError | undefined {
  const outer = lookAlike(json, governedNames(fields), "");
  if (outer) return outer;
  let scope: Record<string, unknown> = json;
  const prefix = fields.container ? `${fields.container}.` : "";
  if (fields.container) {
    const inner = json[fields.container];
    if (inner !== undefined && inner !== null && !isPlainObject(inner)) {
      return { field: fields.container, message: `Cannot read request: "${fields.container}" must be an object` };
    }
    scope = isPlainObject(inner) ? inner : {};
    const nested = lookAlike(scope, governedInner(fields), fields.container);
    if (nested) return nested;
  }
  if (fields.model && json[fields.model] !== undefined) {
    const model = json[fields.model];
    if (typeof model !== "string" || model === "") {
      return { field: fields.model, message: `Cannot read request: "${fields.model}" must be a non-empty string` };
    }
  }
  for (const list of [fields.outputCaps, fields.outputMultipliers]) {
    for (const name of list) {
      const value = scope[name];
      if (value === undefined || value === null || isCount(value)) continue;
      const tooLarge = typeof value === "number" && Number.isInteger(value) && value > MAX_FIELD_INTEGER;
      const field = prefix + name;
      return {
        field,
        message: tooLarge
          ? `Cannot read request: "${field}" must be at most ${MAX_FIELD_INTEGER}`
          : `Cannot read request: "${field}" must be a positive integer`,
      };
    }
  }
  if (json.stream !== undefined && typeof json.stream !== "boolean") {
    return { field: "stream", message: `Cannot read request: "stream" must be true or false` };
  }
  const options = json.stream_options;
  if (options !== undefined && options !== null) {
    if (!isPlainObject(options)) return { field: "stream_options", message: `Cannot read request: "stream_options" must be an object` };
    const include = options.include_usage;
    if (include !== undefined && include !== null && typeof include !== "boolean") {
      return { field: "stream_options.include_usage", message: `Cannot read request: "stream_options.include_usage" must be true or false` };
    }
  }
  return undefined;
}

/**
 * Makes the request's output bound hold and returns it: the smallest cap the
 * client set (or `defaultCap` when it set none) is written into every cap
 * field it set (or into `defaultField`), so fields that disagree can never
 * widen what a provider generates, whichever of them it honours; times every
 * multiplier. Multipliers are multiplied together, which for Completions'
 * `n` × `best_of` over-counts (best_of ≥ n already) but never under-counts.
 * Assumes checkLimitFields passed.
 */
export function bindOutput(json: Record<string, unknown>, fields: LimitFields, options: OutputBinding): number {
  const found = boundsScope(json, fields);
  let scope = found ?? {};
  let cap: number | undefined;
  for (const field of fields.outputCaps) {
    const value = scope[field];
    if (isCount(value) && (cap === undefined || value < cap)) cap = value;
  }
  const bound = cap ?? options.defaultCap;
  if (options.write) {
    if (!found && fields.container) {
      scope = {};
      json[fields.container] = scope;
    }
    let written = false;
    for (const field of fields.outputCaps) {
      if (scope[field] === undefined) continue;
      scope[field] = bound;
      written = true;
    }
    if (!written && options.defaultField !== undefined) scope[options.defaultField] = bound;
  }
  let total = bound;
  for (const field of fields.outputMultipliers) {
    const value = scope[field];
    if (isCount(value)) total *= value;
  }
  return total;
}

export interface OutputBinding {
  /** The cap assumed when the client set none. */
  defaultCap: number;
  /** Where that cap is written when the client set none. */
  defaultField?: string;
  /** Write the bound into the body (keys whose budget or tpm depends on it). */
  write: boolean;
}

/**
 * Most tokens one image can cost on any current model: gpt-4o-mini bills an
 * image as 2,833 tokens plus 5,667 per 512-px tile, and high detail reaches 8
 * tiles (fit in 2048², short side down to 768: 2 × 4), so 48,169 — the price
 * of gpt-4o's 85 + 170 per tile, counted 33 times over. The rest stay far
 * below: OpenAI's patch models at 1,536 patches × 2.46 (gpt-4.1-nano) ≈ 3,779,
 * or 10,000 patches with `detail: "original"` (24,600 even at 2.46); tile
 * models at 85 + 8 × 170 = 1,445; Claude Opus 4.7 up to 3.75 MP in 28-px
 * patches ≈ 4,784, earlier Claude ≈ 1,600; Gemini 3 at most 1,120 at high
 * media resolution. 4,096 would miss gpt-4o-mini, Opus 4.7 and original
 * detail. Callers that know the model may pass less (see MediaBounds).
 */
export const IMAGE_TOKENS = 2_833 + 8 * 5_667;

/**
 * Text tokens one document page can add besides its page image. OpenAI and
 * Anthropic send each PDF page as extracted text plus an image; Anthropic
 * puts the text at 1,500–3,000 tokens for a typical page, and a dense page of
 * small print stays under 4,096. A crafted PDF can exceed it: a compressed
 * content stream can draw far more text than its bytes, and pages can share
 * one stream. Only the model's context window limits that.
 */
export const FILE_PAGE_TEXT_TOKENS = 4_096;

/** Tokens per page of an inline document with the default image bound. */
export const FILE_PAGE_TOKENS = IMAGE_TOKENS + FILE_PAGE_TEXT_TOKENS;

/**
 * The fewest bytes a PDF page can take. Measured on minimal files: an empty
 * page costs ≈ 73 bytes in a classic PDF (page object plus xref line) but only
 * ≈ 8 bytes when page objects sit in a compressed object stream (PDF 1.5), as
 * many writers produce. So a document's size says little about its pages, and
 * in practice MAX_DOCUMENT_PAGES is what bounds all but tiny documents.
 */
export const MIN_PDF_PAGE_BYTES = 8;

/**
 * Most pages a provider reads from one document: Gemini's documented limit
 * (OpenAI and Anthropic stop at 100 pages per request, or 600 on Anthropic's
 * 1M-token models). A longer document is refused by the provider, not billed.
 */
export const MAX_DOCUMENT_PAGES = 1_000;

/**
 * WAV audio declaring fewer bytes per second than this is treated as
 * unbounded. Audio is billed by duration (OpenAI: about 10 tokens a second)
 * and its base64 is already counted at one token per byte, which covers any
 * real recording (8 kHz 8-bit mono is 8,000 bytes a second; MP3, the other
 * format Chat Completions takes, never drops below ≈ 180). But a WAV header
 * may declare any rate, and at 1 byte a second each byte would be a second of
 * audio. Any rate above ≈ 8 keeps the byte bound; 1,000 leaves margin.
 */
export const MIN_WAV_BYTES_PER_SECOND = 1_000;

/** What a walk over the parsed body found. */
export interface PartsScan {
  /** Image parts, each bounded by IMAGE_TOKENS. */
  imageParts: number;
  /** Inline (base64) documents. */
  fileParts: number;
  /** Their decoded size, summed. */
  fileBytes: number;
  /** Their pages: per document its size over MIN_PDF_PAGE_BYTES, at most MAX_DOCUMENT_PAGES, summed. */
  filePages: number;
  /** Readable paths of what keyward cannot bound; empty (and shared) for a plain request. */
  unbounded: readonly string[];
}

/** What an image or page is allowed to cost; lower than the defaults only where the model or provider is known. */
export interface MediaBounds {
  readonly imageTokens: number;
  readonly documentPages: number;
}

export const DEFAULT_MEDIA_BOUNDS: MediaBounds = { imageTokens: IMAGE_TOKENS, documentPages: MAX_DOCUMENT_PAGES };

/**
 * Upper bound of the request's input tokens. Text costs at most one token per
 * UTF-8 byte under every tokenizer in use (byte-level BPE, SentencePiece with
 * byte fallback), and JSON syntax only adds bytes, so the serialised body's
 * byte length bounds all text, base64 included. Media cost by content, not
 * bytes: each image part adds `bounds.imageTokens`, each inline document its
 * pages × (image + FILE_PAGE_TEXT_TOKENS). Audio adds nothing: its base64
 * bytes outnumber its tokens (see MIN_WAV_BYTES_PER_SECOND). What
 * unboundedReferences names is not counted here at all.
 */
export function promptTokensBound(json: Record<string, unknown>, serialisedBytes: number, bounds: MediaBounds = DEFAULT_MEDIA_BOUNDS): number {
  const scan = scanParts(json);
  const pages = Math.min(scan.filePages, scan.fileParts * bounds.documentPages);
  return serialisedBytes + scan.imageParts * bounds.imageTokens + pages * (bounds.imageTokens + FILE_PAGE_TEXT_TOKENS);
}

/**
 * Fields whose cost depends on state keyward cannot see, as readable paths
 * (`previous_response_id`, `input[0].content[1].file_id`, `tools[2]`):
 * - stored state: `previous_response_id`, `conversation`, a stored `prompt`
 *   (an object with an `id`), Responses `item_reference` items, Gemini
 *   `cachedContent`;
 * - `background: true`, whose usage arrives after this response;
 * - uploaded files: `file_id` in `file`, `input_file` and `input_image` parts,
 *   Anthropic `source.type: "file"` and `container_upload`, Gemini `fileData`;
 * - documents fetched by URL: `input_file.file_url`, Anthropic documents with
 *   `source.type: "url"` (image URLs are bounded per image);
 * - media billed by duration whose size does not bound it: WAV with an
 *   implausibly low byte rate, Gemini inline audio and video;
 * - hosted tools, whose results enter the context server-side: web search and
 *   fetch, file search, code execution, MCP, image generation, Anthropic's
 *   advisor and tool search, Gemini's Google Search, URL context, code
 *   execution and file search.
 * Empty for a plain request.
 */
export function unboundedReferences(json: Record<string, unknown>): string[] {
  return [...scanParts(json).unbounded];
}

const NONE: readonly string[] = Object.freeze([]);

/**
 * One walk serving both bounds. A body with nothing unbounded (nearly all) is
 * walked once, keeping only a stack of values; paths are built in a second,
 * ordered walk only when something unbounded was seen.
 */
export function scanParts(json: Record<string, unknown>): PartsScan {
  const tally: Tally = { imageParts: 0, fileParts: 0, fileBytes: 0, filePages: 0, paths: undefined, unbounded: false };
  walk(json, tally);
  if (!tally.unbounded)
    return { imageParts: tally.imageParts, fileParts: tally.fileParts, fileBytes: tally.fileBytes, filePages: tally.filePages, unbounded: NONE };
  const paths: string[] = [];
  walk(json, { imageParts: 0, fileParts: 0, fileBytes: 0, filePages: 0, paths, unbounded: false });
  return { imageParts: tally.imageParts, fileParts: tally.fileParts, fileBytes: tally.fileBytes, filePages: tally.filePages, unbounded: paths };
}

interface Tally {
  imageParts: number;
  fileParts: number;
  fileBytes: number;
  filePages: number;
  /** Collected paths on the second walk; undefined on the first, which only notes that there are some. */
  paths: string[] | undefined;
  unbounded: boolean;
}

function flag(tally: Tally, path: string | undefined, key?: string): void {
  tally.unbounded = true;
  if (tally.paths && path !== undefined) tally.paths.push(key === undefined ? path : joinPath(path, key));
}

function walk(root: Record<string, unknown>, tally: Tally): void {
  topLevel(root, tally);
  const collect = tally.paths !== undefined;
  const values: unknown[] = [root];
  const paths: string[] = collect ? [""] : [];
  while (values.length > 0) {
    const value = values.pop();
    const path = collect ? paths.pop() : undefined;
    if (Array.isArray(value)) {
      // Children go on the stack last-first, so the second walk reports paths in document order.
      for (let i = value.length - 1; i >= 0; i--) {
        const item: unknown = value[i];
        if (typeof item === "object" && item !== null) {
          values.push(item);
          if (collect) paths.push(joinPath(path ?? "", i));
        }
      }
      continue;
    }
    if (typeof value !== "object" || value === null) continue;
    const object = value as Record<string, unknown>;
    inspect(object, path, tally);
    if (collect) {
      const keys = Object.keys(object);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] ?? "";
        const child = object[key];
        if (typeof child === "object" && child !== null) {
          values.push(child);
          paths.push(joinPath(path ?? "", key));
        }
      }
    } else {
      for (const key in object) {
        const child = object[key];
        if (typeof child === "object" && child !== null) values.push(child);
      }
    }
  }
}

/** Request-level fields that point at state kept by the provider. */
function topLevel(json: Record<string, unknown>, tally: Tally): void {
  const root = tally.paths ? "" : undefined;
  if (isPresent(json.previous_response_id)) flag(tally, root, "previous_response_id");
  if (isPresent(json.conversation)) flag(tally, root, "conversation");
  if (isPlainObject(json.prompt) && isPresent(json.prompt.id)) flag(tally, root, "prompt");
  if (json.background === true) flag(tally, root, "background");
  if (isPresent(json.cachedContent)) flag(tally, root, "cachedContent");
  if (isPresent(json.cached_content)) flag(tally, root, "cached_content");
  if (Array.isArray(json.mcp_servers) && json.mcp_servers.length > 0) flag(tally, root, "mcp_servers");
  if (isPresent(json.web_search_options)) flag(tally, root, "web_search_options");
  const tools = json.tools;
  if (Array.isArray(tools)) {
    for (let i = 0; i < tools.length; i++) {
      const tool: unknown = tools[i];
      if (isPlainObject(tool) && isHostedTool(tool)) flag(tally, root === undefined ? undefined : joinPath("tools", i));
    }
  }
}

function isPresent(value: unknown): boolean {
  return value !== undefined && value !== null && value !== "";
}

/** Tool types that run at the provider (OpenAI Responses, Anthropic), by prefix so dated versions match. */
const HOSTED_TOOL_TYPES = ["web_search", "web_fetch", "file_search", "code_interpreter", "code_execution", "mcp", "image_generation", "tool_search", "advisor"];

/** Gemini declares hosted tools by key rather than type. */
const GEMINI_HOSTED_TOOL_KEYS = [
  "googleSearch",
  "google_search",
  "googleSearchRetrieval",
  "google_search_retrieval",
  "urlContext",
  "url_context",
  "codeExecution",
  "code_execution",
  "fileSearch",
  "file_search",
  "googleMaps",
  "google_maps",
  "enterpriseWebSearch",
  "enterprise_web_search",
  "retrieval",
];

function isHostedTool(tool: Record<string, unknown>): boolean {
  const type = tool.type;
  if (typeof type === "string") return HOSTED_TOOL_TYPES.some((prefix) => type.startsWith(prefix));
  return GEMINI_HOSTED_TOOL_KEYS.some((key) => tool[key] !== undefined);
}

/** One object of the body, classified by its `type` (or, for Gemini parts and OpenAI's untyped image form, by its keys). */
function inspect(part: Record<string, unknown>, path: string | undefined, tally: Tally): void {
  const type = part.type;
  if (typeof type !== "string") {
    untypedPart(part, path, tally);
    return;
  }
  switch (type) {
    // computer_screenshot: a computer-use screenshot sent back to the Responses API.
    case "image_url":
    case "image":
    case "input_image":
    case "computer_screenshot": {
      const source = part.source;
      if (isPresent(part.file_id)) flag(tally, path, "file_id");
      else if (isPlainObject(source) && source.type === "file") flag(tally, path, "source");
      else tally.imageParts++;
      return;
    }
    case "file": {
      const file = part.file;
      if (!isPlainObject(file)) return;
      if (isPresent(file.file_id)) flag(tally, path === undefined ? undefined : joinPath(path, "file"), "file_id");
      if (typeof file.file_data === "string") inlineDocument(file.file_data, tally);
      return;
    }
    case "input_file":
      if (isPresent(part.file_id)) flag(tally, path, "file_id");
      if (isPresent(part.file_url)) flag(tally, path, "file_url");
      if (typeof part.file_data === "string") inlineDocument(part.file_data, tally);
      return;
    case "document": {
      const source = part.source;
      if (!isPlainObject(source)) return;
      if (source.type === "url" || source.type === "file") flag(tally, path, "source");
      else if (source.type === "base64" && typeof source.data === "string") inlineDocument(source.data, tally);
      // "text" sources are counted as bytes; "content" sources hold parts the walk reaches anyway.
      return;
    }
    case "container_upload":
      if (isPresent(part.file_id)) flag(tally, path, "file_id");
      return;
    case "item_reference":
      flag(tally, path);
      return;
    case "input_audio": {
      const audio = part.input_audio;
      if (isPlainObject(audio) && typeof audio.data === "string" && !wavRateIsPlausible(audio.data)) {
        flag(tally, path === undefined ? undefined : joinPath(path, "input_audio"), "data");
      }
      return;
    }
    default:
      return;
  }
}

const INLINE_DATA_KEYS = ["inlineData", "inline_data"];
const FILE_DATA_KEYS = ["fileData", "file_data"];

function untypedPart(part: Record<string, unknown>, path: string | undefined, tally: Tally): void {
  // Chat Completions also takes an image as {"image": "<base64>"} in a content array, billed like any image.
  if (typeof part.image === "string") tally.imageParts++;
  for (const key of INLINE_DATA_KEYS) {
    const inline = part[key];
    if (!isPlainObject(inline)) continue;
    const mime = inline.mimeType ?? inline.mime_type;
    const data = inline.data;
    const kind = typeof mime === "string" ? mime.toLowerCase() : "";
    if (kind.startsWith("image/")) tally.imageParts++;
    // Gemini bills audio and video by duration (32 and ≈ 263 tokens a second); compressed silence or a still frame takes almost no bytes.
    else if (kind.startsWith("audio/") || kind.startsWith("video/")) flag(tally, path, key);
    // Plain text costs no more than its bytes, which are counted already.
    else if (typeof data === "string" && !kind.startsWith("text/")) inlineDocument(data, tally);
  }
  for (const key of FILE_DATA_KEYS) {
    if (isPlainObject(part[key])) flag(tally, path, key);
  }
}

/** Where the base64 of a `data:` URL starts (0 for bare base64). */
function base64Start(data: string): number {
  if (!data.startsWith("data:")) return 0;
  const comma = data.indexOf(",");
  return comma < 0 ? data.length : comma + 1;
}

/** Adds an inline document given as base64, bare or in a `data:` URL. Plain text (`data:text/…`) costs no more than its bytes. */
function inlineDocument(data: string, tally: Tally): void {
  if (data.startsWith("data:text/")) return;
  const start = base64Start(data);
  const bytes = Math.ceil(((data.length - start) * 3) / 4);
  tally.fileParts++;
  tally.fileBytes += bytes;
  tally.filePages += Math.min(MAX_DOCUMENT_PAGES, Math.max(1, Math.ceil(bytes / MIN_PDF_PAGE_BYTES)));
}

/** Base64 characters decoded to find a WAV's fmt chunk: 4 KiB of header, enough to step over the chunks some writers put first. */
const WAV_HEAD_CHARS = 5_464;

/**
 * False when base64 `data` is a WAV whose declared rate is below
 * MIN_WAV_BYTES_PER_SECOND, or whose format chunk is not within its first
 * 4 KiB. Anything else (MP3, or not audio at all) is left to the byte bound.
 */
function wavRateIsPlausible(data: string): boolean {
  const start = base64Start(data);
  // "UklGR" is base64 for "RIFF" plus the first bits of the size that follows.
  if (!data.startsWith("UklGR", start)) return true;
  const head = Buffer.from(data.slice(start, start + WAV_HEAD_CHARS), "base64");
  if (head.length < 12 || head.toString("latin1", 8, 12) !== "WAVE") return true;
  let offset = 12;
  while (offset + 8 <= head.length) {
    const id = head.toString("latin1", offset, offset + 4);
    const size = head.readUInt32LE(offset + 4);
    if (id === "fmt ") {
      if (offset + 8 + 16 > head.length) return false;
      const sampleRate = head.readUInt32LE(offset + 12);
      const byteRate = head.readUInt32LE(offset + 16);
      const blockAlign = head.readUInt16LE(offset + 20);
      // Decoders time audio by sample rate and block size; the byte-rate field is only a hint, so both must pass.
      return byteRate >= MIN_WAV_BYTES_PER_SECOND && sampleRate * blockAlign >= MIN_WAV_BYTES_PER_SECOND;
    }
    // RIFF chunks are padded to an even size.
    offset += 8 + size + (size % 2);
  }
  return false;
}
