/**
 * HTTP/1.1 written byte for byte on a raw socket: for what `fetch` would
 * never send (a path it would normalise, an odd or empty Host, a request cut
 * off halfway) and for watching when the server closes a connection.
 */
import { connect } from "node:net";

export interface RawAnswer {
  status: number;
  /** Header names lower-cased; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: string;
}

/** Decodes a chunked body (keyward streams some answers); anything else is returned as is. */
function unchunk(body: string): string {
  let out = "";
  let rest = body;
  for (;;) {
    const eol = rest.indexOf("\r\n");
    if (eol < 0) return out;
    const size = Number.parseInt(rest.slice(0, eol), 16);
    if (!Number.isFinite(size) || size === 0) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

function parseAnswer(text: string): RawAnswer {
  const end = text.indexOf("\r\n\r\n");
  const [statusLine = "", ...lines] = text.slice(0, end < 0 ? text.length : end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const raw = end < 0 ? "" : text.slice(end + 4);
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0),
    headers,
    body: headers["transfer-encoding"] === "chunked" ? unchunk(raw) : raw,
  };
}

/** One request on a new connection (send `Connection: close` in it): the whole answer, read until the server closes. */
export function rawRequest(port: number, request: string, timeoutMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let received = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms: ${JSON.stringify(received.slice(0, 200))}`));
    }, timeoutMs);
    socket.on("data", (data) => {
      received += data.toString("latin1");
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(parseAnswer(received));
    });
    socket.write(request);
  });
}

/** `lines` joined as an HTTP/1.1 head (request line first), with `Connection: close` and the body's length when there is one. */
export function httpHead(lines: string[], body = ""): string {
  const length = body ? [`Content-Length: ${Buffer.byteLength(body)}`] : [];
  return `${[...lines, ...length, "Connection: close"].join("\r\n")}\r\n\r\n${body}`;
}

export interface Silence {
  /** Milliseconds from the write until the server closed the connection; undefined if it was still open at the deadline. */
  closedAfterMs: number | undefined;
  /** What the server sent meanwhile. */
  received: string;
}

/**
 * Writes `bytes` (a request cut off anywhere) and then stays silent: resolves
 * when the server closes the connection, or after `waitMs` with it still open.
 */
export function silentAfter(port: number, bytes: string, waitMs: number): Promise<Silence> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const started = performance.now();
    let received = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closedAfterMs: undefined, received });
    }, waitMs);
    socket.on("data", (data) => {
      received += data.toString("latin1");
    });
    // A reset counts as closed too: the close event follows it.
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ closedAfterMs: performance.now() - started, received });
    });
    socket.write(bytes);
  });
}
