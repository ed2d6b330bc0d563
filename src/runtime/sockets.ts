/**
 * Client TCP/TLS sockets as the runtime offers them (Bun's `Bun.connect`,
 * src/runtime/bun-connect.ts), for keyward's own upstream client. The shape
 * is the runtime's offer: the client adapts to it, so nothing here knows HTTP.
 */

export interface ClientSocket {
  /** Bytes taken now (the rest waits for `drain`); negative when the socket is closed. */
  write(data: Uint8Array): number;
  /** Closes the connection at once. */
  destroy(): void;
  pause(): void;
  resume(): void;
  /** Whether an open connection keeps the process alive (idle pooled ones must not). */
  ref(): void;
  unref(): void;
}

export interface SocketEvents {
  data(bytes: Uint8Array): void;
  drain(): void;
  /** The connection ended, by either side or by an error. Called once. */
  closed(): void;
}

export interface ConnectTarget {
  host: string;
  port: number;
  /** TLS with the system's trusted roots and the host name verified. */
  tls: boolean;
}

/** Opens a connection; rejects when it cannot be opened (refused, DNS, TLS verification). */
export type Connect = (target: ConnectTarget, events: SocketEvents) => Promise<ClientSocket>;
