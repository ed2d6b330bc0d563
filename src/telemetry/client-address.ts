/**
 * The client address for logs. Without `trustProxy` it is the socket's peer:
 * X-Forwarded-For is whatever the client wrote. With it (keyward behind one
 * reverse proxy) it is the LAST X-Forwarded-For entry, the address our proxy
 * itself saw and appended; entries to its left came from the client and can
 * be forged, so they are never used. Behind a chain of proxies, configure the
 * outermost to overwrite the header, or the last hop is an inner proxy.
 */
export function clientAddress(headers: Headers, socketAddress: string | undefined, trustProxy: boolean): string | undefined {
  if (!trustProxy) return socketAddress;
  const forwarded = headers.get("x-forwarded-for");
  if (forwarded === null) return socketAddress;
  const last = forwarded.slice(forwarded.lastIndexOf(",") + 1).trim();
  // An address is short and has no spaces or quotes; anything else is not one and would only pollute logs.
  return last && last.length <= 64 && /^[0-9A-Za-z.:[\]%_-]+$/.test(last) ? last : socketAddress;
}
