import type { Socket, SocketHandler } from "bun";
import type { Connect, SocketEvents, ClientSocket } from "./sockets.ts";

/** One handler set for every upstream socket; each socket's `data` is its own event sink. */
const handlers: SocketHandler<SocketEvents> = {
  data: (socket, bytes) => socket.data.data(bytes),
  drain: (socket) => socket.data.drain(),
  close: (socket) => socket.data.closed(),
  // A peer's FIN: keyward never half-closes, so the exchange is over either way.
  end: (socket) => {
    socket.end();
  },
  error: (socket) => {
    socket.end();
  },
};

function wrap(socket: Socket<SocketEvents>): ClientSocket {
  return {
    write: (data) => socket.write(data),
    destroy: () => socket.terminate(),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    ref: () => socket.ref(),
    unref: () => socket.unref(),
  };
}

/**
 * `Bun.connect` behind the client's seam. Certificates are verified against
 * Bun's trusted roots with the host name as SNI and identity, as `fetch`
 * does; Nagle is off so a request's one write leaves at once.
 */
export const bunConnect: Connect = async (target, events) => {
  const socket = await Bun.connect<SocketEvents>({
    hostname: target.host,
    port: target.port,
    tls: target.tls ? { serverName: target.host } : undefined,
    data: events,
    socket: handlers,
  });
  socket.setNoDelay(true);
  return wrap(socket);
};
