import type { Connection, ConnectionUser, Origin } from "./pool.ts";
import { ParseError, ResponseParser, type ParserEvents, type ResponseHead } from "./response-parser.ts";

/**
 * Answers up to this size with a declared length are read whole before the
 * `Response` is handed over, as one buffer: no stream to build and read
 * through for the usual small JSON answer. Larger ones, chunked ones and
 * event streams are streamed.
 */
const COLLECT_MAX_BYTES = 1024 * 1024;
/** Body pieces queued for a slow reader before the socket stops reading (TCP pushes back on the provider). */
const STREAM_HIGH_WATER = 16;

/** Encodings keyward offers (`accept-encoding`) and so must decode; anything else is refused. */
const DECODERS: Record<string, CompressionFormat> = { gzip: "gzip", "x-gzip": "gzip", deflate: "deflate" };

/** Exchanges still waiting for their answer (the head), counted across a client and its hand-offs. */
export interface Waiting {
  count: number;
}

/**
 * One request and its answer on one connection. Resolves with a `Response`
 * once the head is in (or the whole small body); the connection goes back
 * to the pool when the answer ends cleanly, and is destroyed otherwise.
 */
export class Exchange implements ConnectionUser, ParserEvents {
  readonly response: Promise<Response>;
  private resolve!: (response: Response) => void;
  private reject!: (error: unknown) => void;
  private conn: Connection | undefined;
  private parser: ResponseParser | undefined;
  private unwritten: Uint8Array | undefined;
  private gotBytes = false;
  private retried = false;
  private settled = false;
  private finished = false;
  private ended = false;
  private answer: ResponseHead | undefined;
  private collected: Uint8Array<ArrayBuffer> | undefined;
  private collectedBytes = 0;
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private paused = false;

  constructor(
    private readonly origin: Origin,
    private readonly method: string,
    /** Kept for the one retry until the answer's first bytes arrive; a stream's answer may last long after. */
    private request: Uint8Array | undefined,
    private readonly signal: AbortSignal | undefined,
    private readonly now: () => number,
    private readonly waiting: Waiting,
  ) {
    this.response = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    waiting.count++;
    if (signal?.aborted) {
      this.fail(signal.reason);
      return;
    }
    signal?.addEventListener("abort", this.onAbort, { once: true });
    void this.attach("pooled");
  }

  private readonly onAbort = (): void => this.fail(this.signal?.reason);

  /** Takes a pooled connection (or, for the one retry, a new one) and writes the request. */
  private async attach(connection: "pooled" | "new"): Promise<void> {
    let conn: Connection;
    try {
      conn = connection === "new" ? await this.origin.open() : await this.origin.acquire(this.now());
    } catch (err) {
      this.fail(new TypeError("Cannot reach provider: connection failed", { cause: err }));
      return;
    }
    if (this.finished) {
      // Aborted while connecting: the connection never carried anything, so it is as good as new.
      this.origin.release(conn, this.now(), undefined);
      return;
    }
    this.conn = conn;
    conn.user = this;
    this.parser = new ResponseParser(this.method, this);
    this.gotBytes = false;
    // Closed between opening and now: its close event came while nobody listened.
    if (conn.isClosed) return this.closed();
    if (this.request) this.write(this.request);
  }

  private write(bytes: Uint8Array): void {
    const written = this.conn?.socket?.write(bytes) ?? -1;
    // Negative: the socket is closed, and `closed()` follows.
    this.unwritten = written >= 0 && written < bytes.length ? bytes.subarray(written) : undefined;
  }

  drain(): void {
    if (this.unwritten) this.write(this.unwritten);
  }

  data(bytes: Uint8Array): void {
    // Answered: never sent again (what is still unwritten stays in `unwritten`).
    this.gotBytes = true;
    this.request = undefined;
    try {
      (this.parser as ResponseParser).push(bytes);
    } catch (err) {
      if (this.ended)
        this.conn?.destroy(); // the answer was whole; only the connection is spoilt
      else this.fail(err);
      return;
    }
    if (this.ended) this.complete();
  }

  closed(): void {
    if (this.finished) return;
    if (this.parser?.closeDelimited) {
      this.parser.finish();
      this.complete();
      return;
    }
    // A kept-alive connection the server closed just as the request went out: nothing was
    // answered, so nothing was processed; send it once more on a new connection.
    if (!this.gotBytes && this.conn?.reused && !this.retried) {
      this.retried = true;
      this.conn = undefined;
      void this.attach("new");
      return;
    }
    this.fail(
      new TypeError(
        this.gotBytes ? "Cannot read provider's answer: the connection closed early" : "Cannot reach provider: the connection closed before an answer",
      ),
    );
  }

  head(head: ResponseHead): void {
    this.answer = head;
    const encoding = headerValue(head, "content-encoding")?.toLowerCase() ?? "identity";
    const decoder = encoding === "identity" ? undefined : DECODERS[encoding];
    if (encoding !== "identity" && !decoder) throw new ParseError(`content-encoding ${encoding} was not asked for`);
    const framing = head.framing;
    if (framing.kind === "none") return this.settle(new Response(null, responseInit(head)));
    const eventStream = headerValue(head, "content-type")?.includes("text/event-stream") ?? false;
    if (framing.kind === "length" && framing.length <= COLLECT_MAX_BYTES && !decoder && !eventStream) {
      this.collected = new Uint8Array(framing.length);
      return;
    }
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => {
          if (!this.paused) return;
          this.paused = false;
          this.conn?.socket?.resume();
        },
        cancel: (reason) => this.fail(reason),
      },
      { highWaterMark: STREAM_HIGH_WATER },
    );
    // The DOM typings give DecompressionStream a BufferSource writable; it takes the Uint8Arrays fed here.
    this.settle(
      new Response(
        decoder ? body.pipeThrough(new DecompressionStream(decoder) as unknown as ReadableWritablePair<Uint8Array, Uint8Array>) : body,
        responseInit(head),
      ),
    );
  }

  body(piece: Uint8Array): void {
    if (this.collected) {
      this.collected.set(piece, this.collectedBytes);
      this.collectedBytes += piece.length;
      return;
    }
    const controller = this.controller as ReadableStreamDefaultController<Uint8Array>;
    controller.enqueue(piece);
    if ((controller.desiredSize ?? 1) <= 0 && !this.paused) {
      this.paused = true;
      this.conn?.socket?.pause();
    }
  }

  end(): void {
    this.ended = true;
    if (this.collected) this.settle(new Response(this.collected, responseInit(this.answer as ResponseHead)));
    else this.controller?.close();
  }

  private settle(response: Response): void {
    this.settled = true;
    this.waiting.count--;
    this.resolve(response);
  }

  /** The answer ended cleanly: the connection is reusable if both sides said so and the request went out whole. */
  private complete(): void {
    if (this.finished) return;
    this.finished = true;
    this.signal?.removeEventListener("abort", this.onAbort);
    const conn = this.conn;
    if (!conn) return;
    if (this.answer?.reusable && !this.unwritten) {
      if (this.paused) conn.socket?.resume();
      this.origin.release(conn, this.now(), this.answer.keepAliveMs);
    } else conn.destroy();
  }

  /** Ends the exchange with an error: rejects the pending answer or errors its body, and drops the connection. */
  private fail(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.signal?.removeEventListener("abort", this.onAbort);
    const conn = this.conn;
    if (conn) {
      conn.user = undefined;
      conn.destroy();
    }
    if (!this.settled) {
      this.settled = true;
      this.waiting.count--;
      this.reject(error);
    } else if (!this.ended) {
      try {
        this.controller?.error(error);
      } catch {
        // Already cancelled by its reader: nobody is left to tell.
      }
    }
  }
}

function responseInit(head: ResponseHead): ResponseInit {
  return { status: head.status, statusText: head.statusText, headers: head.headers };
}

function headerValue(head: ResponseHead, name: string): string | undefined {
  for (const [key, value] of head.headers) if (key === name) return value;
  return undefined;
}
