import type { Connect, ConnectTarget, SocketEvents, ClientSocket } from "../runtime/sockets.ts";

/** Where an exchange on a connection hears its socket's events: the connection passes them on. */
export type ConnectionUser = SocketEvents;

/**
 * Kept-alive connections are dropped after this long idle, before the
 * common server-side keep-alive timeouts (5 s in Node, nginx's 75 s): a
 * request written just as the server closes its end is the failure this
 * avoids, and `Keep-Alive: timeout=` shortens it further.
 */
const DEFAULT_IDLE_MS = 4_000;
/** Idle connections kept per origin; more are closed when released. */
const MAX_IDLE_PER_ORIGIN = 64;

/** One TCP/TLS connection; carries one exchange at a time (no pipelining). */
export class Connection implements SocketEvents {
  socket: ClientSocket | undefined;
  user: ConnectionUser | undefined;
  /** It carried an exchange before, so the server may have closed it meanwhile. */
  reused = false;
  isClosed = false;
  idleSince = 0;
  idleLimitMs = DEFAULT_IDLE_MS;

  constructor(readonly origin: Origin) {}

  data(bytes: Uint8Array): void {
    // Bytes on an idle connection answer nothing keyward asked: the connection is unusable.
    if (this.user) this.user.data(bytes);
    else this.destroy();
  }

  drain(): void {
    this.user?.drain();
  }

  closed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.origin.forget(this);
    const user = this.user;
    this.user = undefined;
    user?.closed();
  }

  destroy(): void {
    this.socket?.destroy();
    // Some runtimes report the close later or not at all for a socket closed from this side.
    this.closed();
  }
}

/** The connections to one scheme://host:port. */
export class Origin {
  private readonly idle: Connection[] = [];
  closed = false;

  constructor(
    readonly target: ConnectTarget,
    /** The Host header: the port only when it is not the scheme's default. */
    readonly hostHeader: string,
    private readonly connect: Connect,
  ) {}

  /** The most recently used idle connection still inside its idle limit, else a new one. */
  async acquire(now: number): Promise<Connection> {
    for (let conn = this.idle.pop(); conn; conn = this.idle.pop()) {
      if (!conn.isClosed && now - conn.idleSince < conn.idleLimitMs) {
        conn.socket?.ref();
        conn.reused = true;
        return conn;
      }
      conn.destroy();
    }
    return this.open();
  }

  /** A new connection, never a pooled one. */
  async open(): Promise<Connection> {
    const conn = new Connection(this);
    conn.socket = await this.connect(this.target, conn);
    return conn;
  }

  /** Back to the pool after a complete exchange; closed when the pool is full or shut. */
  release(conn: Connection, now: number, keepAliveMs: number | undefined): void {
    conn.user = undefined;
    if (conn.isClosed) return;
    if (this.closed || this.idle.length >= MAX_IDLE_PER_ORIGIN) {
      conn.destroy();
      return;
    }
    conn.idleSince = now;
    // A second of margin under the server's own limit, for the request's trip there.
    if (keepAliveMs !== undefined) conn.idleLimitMs = Math.min(DEFAULT_IDLE_MS, keepAliveMs - 1_000);
    conn.socket?.unref();
    this.idle.push(conn);
  }

  forget(conn: Connection): void {
    const at = this.idle.indexOf(conn);
    if (at >= 0) this.idle.splice(at, 1);
  }

  close(): void {
    this.closed = true;
    for (const conn of this.idle.splice(0)) conn.destroy();
  }
}
