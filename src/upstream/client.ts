import type { Connect } from "../runtime/sockets.ts";
import { Exchange, type Waiting } from "./exchange.ts";
import { Origin } from "./pool.ts";
import { TOKEN } from "./response-parser.ts";

/** What the proxy asks of an upstream client; the global `fetch` is one too. */
export interface UpstreamInit {
  method: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** A stream (an upload passed through) always goes to the runtime's `fetch`. */
  body?: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>;
  signal?: AbortSignal;
  /** Never followed: a redirect is answered as it is. */
  redirect?: "manual";
  /**
   * The answer is expected to be an event stream: kept on keyward's own
   * client under any load. `fetch` hands a body read from JavaScript a
   * buffer per pending read, which a slow stream always has, so every open
   * stream would hold one; the client's body is fed by the socket and holds
   * only what arrived (figures in test/bench/README.md).
   */
  stream?: boolean;
}

export type UpstreamFetch = (url: string, init: UpstreamInit) => Promise<Response>;

export interface UpstreamClient {
  fetch: UpstreamFetch;
  /** Closes idle connections and keeps none from now on (in-flight exchanges finish). */
  close(): void;
}

const UNSAFE_VALUE = /[\0\r\n]/;
// oxlint-disable-next-line no-control-regex -- the ASCII range starts at NUL on purpose
const NOT_ASCII = /[^\x00-\x7f]/;
/**
 * Written by the client itself (or, for transfer-encoding, contradicting its
 * framing); a caller's copy is dropped. Hop-by-hop headers never get here:
 * the proxy's allow-list (src/proxy/headers.ts) has removed them.
 */
const OWN_HEADERS = new Set(["host", "content-length", "transfer-encoding", "accept-encoding"]);
const encoder = new TextEncoder();

export interface UpstreamClientOptions {
  /**
   * Where exchanges go while `handoffAt` others already wait for an answer
   * (the runtime's `fetch`); without it every exchange stays here.
   */
  busy?: UpstreamFetch;
  handoffAt?: number;
  now?: () => number;
}

/**
 * Any other exchange still waiting means requests are overlapping: from
 * then on the second core is worth more than the hop (measured in
 * test/bench/README.md).
 */
const DEFAULT_HANDOFF_AT = 1;

/**
 * keyward's HTTP/1.1 client for providers: keep-alive connections per
 * origin, one request at a time each, on the serving thread's own sockets.
 *
 * Why, next to `fetch`: on Bun, `fetch` runs every exchange on a separate
 * HTTP thread and hands the answer back across threads. That hop is the
 * biggest single latency a forwarder pays when it is quiet (about 70 µs per
 * request at p50 on the benchmark's 2-core VM), but under load the other
 * thread is a second core's worth of parsing and I/O that the serving
 * thread no longer does (keyward on this client alone served about 20%
 * fewer requests per second at 32 connections). So an exchange runs here
 * while the client is quiet and goes to `busy` (fetch) while `handoffAt`
 * others, here or on `busy`, are already waiting for their answers.
 */
export function createUpstreamClient(connect: Connect, options: UpstreamClientOptions = {}): UpstreamClient {
  const origins = new Map<string, Origin>();
  const now = options.now ?? (() => performance.now());
  const busy = options.busy;
  const handoffAt = options.handoffAt ?? DEFAULT_HANDOFF_AT;
  const waiting: Waiting = { count: 0 };
  let closed = false;

  function originOf(key: string): Origin {
    let origin = origins.get(key);
    if (origin) return origin;
    const url = new URL(key);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError(`Cannot reach provider: ${url.protocol} is not HTTP`);
    const tls = url.protocol === "https:";
    // URL keeps IPv6 brackets, which a socket address must not have.
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    origin = new Origin({ host, port: Number(url.port) || (tls ? 443 : 80), tls }, url.host, connect);
    if (closed) origin.close();
    origins.set(key, origin);
    return origin;
  }

  /**
   * An exchange on `busy` is counted while it waits as well: requests overlap
   * just as much when the others went to `fetch`. Counting only the client's
   * own let one exchange at a time stay here under any load, each costing the
   * serving thread its socket I/O (the shares are in test/bench/README.md).
   */
  function handOff(run: UpstreamFetch, url: string, init: UpstreamInit): Promise<Response> {
    waiting.count++;
    const answered = () => {
      waiting.count--;
    };
    let answer: Promise<Response>;
    try {
      answer = run(url, init);
    } catch (err) {
      answered();
      return Promise.reject(err);
    }
    answer.then(answered, answered);
    return answer;
  }

  function fetch(url: string, init: UpstreamInit): Promise<Response> {
    if (busy && ((waiting.count >= handoffAt && !init.stream) || init.body instanceof ReadableStream)) return handOff(busy, url, init);
    if (init.body instanceof ReadableStream) return Promise.reject(new TypeError("Cannot send request: a streamed body needs the runtime's fetch"));
    try {
      const scheme = url.indexOf("://");
      const slash = url.indexOf("/", scheme + 3);
      const origin = originOf(slash < 0 ? url : url.slice(0, slash));
      const path = slash < 0 ? "/" : url.slice(slash);
      return new Exchange(origin, init.method, serialize(origin.hostHeader, path, init), init.signal, now, waiting).response;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  return {
    fetch,
    close() {
      closed = true;
      for (const origin of origins.values()) origin.close();
    },
  };
}

/** The request as bytes, head and body in one buffer so that one write (and usually one packet) carries it. */
function serialize(host: string, path: string, init: UpstreamInit): Uint8Array {
  if (/[\s#]/.test(path)) throw new TypeError("Cannot send request: the path has characters a request line cannot carry");
  if (!TOKEN.test(init.method)) throw new TypeError("Cannot send request: invalid method");
  let head = `${init.method} ${path} HTTP/1.1\r\nhost: ${host}\r\naccept-encoding: gzip, deflate\r\n`;
  for (const name in init.headers) {
    const value = init.headers[name] as string;
    if (OWN_HEADERS.has(name)) continue;
    // Values come from a runtime's Headers or from keyward, which both refuse these; a second check costs little.
    if (!TOKEN.test(name) || UNSAFE_VALUE.test(value)) throw new TypeError(`Cannot send request: header ${name} is not valid`);
    head += `${name}: ${value}\r\n`;
  }
  // Streamed bodies never reach here (fetch takes them).
  const body = init.body instanceof ReadableStream ? undefined : init.body;
  if (body || init.method === "POST" || init.method === "PUT" || init.method === "PATCH") head += `content-length: ${body?.byteLength ?? 0}\r\n`;
  head += "\r\n";
  const headBytes = NOT_ASCII.test(head) ? latin1Bytes(head) : encoder.encode(head);
  if (!body || body.byteLength === 0) return headBytes;
  const out = new Uint8Array(headBytes.length + body.byteLength);
  out.set(headBytes);
  out.set(body, headBytes.length);
  return out;
}

/** Header values are byte strings (Latin-1), not UTF-8. */
function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}
