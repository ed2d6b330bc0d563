import { fullGC } from "bun:jsc";
import { Database } from "bun:sqlite";
import { bunConnect } from "./bun-connect.ts";
import { superviseIfNeeded } from "./supervise.ts";
import type { Runtime, ServeOptions, ServerHandle, SqliteClient, TlsPem } from "./types.ts";

function openSqlite(path: string): SqliteClient {
  // `strict` lets drizzle bind parameters without `$` prefixes.
  const db = new Database(path, { create: true, strict: true });
  const close = db.close.bind(db);
  // Release the connection now, finalizing its statements. Plain close() leaves it open until
  // every prepared statement is collected (sqlite3_close_v2), so a connection closed by a worker
  // thread could stay open for good, and the WAL would outlive the process.
  db.close = () => {
    try {
      close(true);
    } catch {
      // Throws only while a statement is mid-step, which neither shutdown nor a worker between messages is.
      close(false);
    }
  };
  return db;
}

/**
 * An answer to a request whose idle timeout was lifted, with the timeout set
 * back once it is sent. Bun keeps a lifted timeout on a kept-alive connection
 * after the answer, for good, and takes a new one only while an answer is
 * still being sent: so an event stream sets it back as its last bytes go
 * out, and any other answer (read whole before it is returned, or a download
 * whose bytes keep flowing) at once.
 */
function quietUntilSent(response: Response, restore: () => void): Response {
  const body = (response.headers.get("content-type") ?? "").includes("text/event-stream") ? response.body : null;
  if (!body) {
    restore();
    return response;
  }
  const reader = body.getReader();
  const burst = streamOpened();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (err) {
        burst.ended();
        throw err;
      }
      if (chunk.done) {
        restore();
        burst.ended();
        controller.close();
      } else {
        controller.enqueue(chunk.value);
      }
    },
    cancel: (reason) => {
      burst.ended();
      return reader.cancel(reason);
    },
  });
  return new Response(stream, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/**
 * A full collection once a burst of event streams is over. A stream's objects
 * live long enough to be promoted to the old generation, which the collector
 * revisits only once the heap has grown well past its size at its last full
 * collection: after a burst their garbage stays resident, and the next
 * burst's peak stacks on top of it. The collection is one pause of the
 * serving thread, so it runs only while no event stream is open, and only
 * after enough have ended that it returns more than it costs; a trickle of
 * streams is left to the collector's own pacing.
 */
const BURST_STREAMS = 256;
let openStreams = 0;
/** Ended in this burst: since the last moment with no event stream open. */
let endedStreams = 0;
let collectionDue = false;

/** Counts one open event stream; `ended` (idempotent) counts it closed, however it closed. */
function streamOpened(): { ended(): void } {
  openStreams++;
  let open = true;
  return {
    ended() {
      if (!open) return;
      open = false;
      openStreams--;
      endedStreams++;
      if (openStreams > 0 || collectionDue) return;
      // A quiet moment ends a burst: streams one at a time never add up to one.
      if (endedStreams < BURST_STREAMS) {
        endedStreams = 0;
        return;
      }
      collectionDue = true;
      // On a later turn, once the last stream's bytes are handed to its socket.
      setTimeout(collectIfQuiet, 0);
    },
  };
}

/** A stream opened since it was scheduled puts it off until the last open one ends. */
function collectIfQuiet(): void {
  collectionDue = false;
  if (openStreams > 0) return;
  endedStreams = 0;
  fullGC();
}

async function serve(options: ServeOptions): Promise<ServerHandle> {
  // Bun's maximum unless a test asks for less; an authenticated stream opts out (keepQuiet below).
  const idleTimeout = options.idleTimeoutSeconds ?? 255;
  const listen = (port: number, tls: TlsPem | undefined) =>
    Bun.serve({
      port,
      hostname: options.hostname,
      idleTimeout,
      // Bun refuses bodies over 128 MiB by default; uploads may be larger, and the proxy caps each endpoint itself.
      maxRequestBodySize: MAX_REQUEST_BODY_BYTES,
      tls,
      // Bun 1.4.5's server.reload() keeps the first certificate, so a renewed one is applied by
      // binding a second listener to the same port (SO_REUSEPORT) and draining the first. Only
      // with TLS: a plain server keeps failing loudly when its port is taken.
      reusePort: tls !== undefined,
      // Bun's development mode (the default unless NODE_ENV=production) answers an uncaught error with a
      // page showing its message and stack; a vault must never show either.
      development: false,
      error: options.onError,
      fetch(request, srv) {
        // Lifted only when the app says so (once it has authenticated the request), possibly after an await.
        let quiet = false;
        const keepQuiet = () => {
          quiet = true;
          srv.timeout(request, 0);
        };
        const answer = options.fetch(request, { remoteAddress: srv.requestIP(request)?.address, keepQuiet });
        const settle = (response: Response) => (quiet ? quietUntilSent(response, () => srv.timeout(request, idleTimeout)) : response);
        return answer instanceof Promise ? answer.then(settle) : settle(answer);
      },
    });
  let current = listen(options.port, options.tls);
  const port = current.port ?? options.port;
  // Listeners replaced by a TLS reload that still finish their open connections.
  const draining = new Set<ReturnType<typeof listen>>();
  return {
    port,
    hostname: current.hostname ?? options.hostname,
    async stop(options) {
      const closeActiveConnections = options?.closeActiveConnections ?? false;
      await Promise.all([current, ...draining].map((server) => server.stop(closeActiveConnections)));
    },
    async reloadTls(tls) {
      const previous = current;
      // Throws (bad PEM, mismatched key) before anything changes.
      current = listen(port, tls);
      draining.add(previous);
      void previous.stop(false).finally(() => draining.delete(previous));
    },
  };
}

/** The largest body any endpoint accepts (file uploads, 512 MB) plus room for the form around it. */
const MAX_REQUEST_BODY_BYTES = 513 * 1024 * 1024;

export const bunRuntime: Runtime = {
  name: "bun",
  openSqlite,
  serve,
  // On Bun, request.signal aborts within milliseconds of a client disconnect.
  disconnectSignal: (request) => request.signal,
  connect: bunConnect,
  superviseIfNeeded,
};
