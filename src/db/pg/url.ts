/**
 * How keyward reads a `postgres://` URL: libpq's form, with TLS decided here
 * rather than by postgres.js, so that the default is safe and the same on
 * every runtime. Parsing reads no file and no environment, so the config can
 * refuse a bad URL before anything starts.
 */
import { isIP } from "node:net";

/**
 * `disable`: plain TCP. `require`: TLS without checking the certificate (or
 * only its chain, against a CA file, as libpq does). `verify-full`: the chain
 * and the host name. libpq's `allow` and `prefer` would fall back to plain TCP
 * when an attacker strips TLS, so they are refused rather than mapped.
 */
export const SSL_MODES = ["disable", "require", "verify-full"] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** A URL keyward cannot use; the message never holds the password. */
export class PostgresUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PostgresUrlError";
  }
}

export interface PostgresTarget {
  /** Host name or IP address (IPv6 without brackets), or a unix socket directory. */
  host: string;
  port: number;
  /** `host` is a unix socket directory (`?host=/run/postgresql` or `postgres://%2Frun%2Fpostgresql/db`). */
  socket: boolean;
  database?: string;
  username?: string;
  password?: string;
  sslMode: SslMode;
  /** The CA file to verify the server with: the `sslrootcert` of the URL or the CA file option. */
  caFile?: string;
  /** The URL without its password, `sslmode`, `sslrootcert` and `host` parameter: postgres.js reads its other parameters from it. */
  clientUrl: string;
}

/** Query parameters keyward reads itself; the others go to postgres.js as it documents them. */
const OWN_PARAMS = ["sslmode", "sslrootcert", "host", "user", "port"];

const LOOPBACK_NAMES = new Set(["localhost", "::1"]);

/** Loopback and unix sockets need no TLS: nothing between keyward and the server can read the traffic. */
export function isLocalHost(host: string, socket: boolean): boolean {
  return socket || LOOPBACK_NAMES.has(host.toLowerCase()) || (isIP(host) === 4 && host.startsWith("127."));
}

/**
 * The URL with its password replaced by `***`, fit for logs. Only for a URL
 * that `parsePostgresUrl` accepted: in a malformed one (a password with an
 * unescaped `#` or `?`), part of the password may sit elsewhere.
 */
export function redactPostgresUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "(not a URL)";
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") return "(not a postgres:// URL)";
  if (url.password) url.password = "***";
  url.hash = "";
  return url.href;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function parseSslMode(raw: string | null): SslMode | undefined {
  if (raw === null) return undefined;
  if ((SSL_MODES as readonly string[]).includes(raw)) return raw as SslMode;
  throw new PostgresUrlError(`sslmode must be one of ${SSL_MODES.join(", ")}, got "${raw}"`);
}

/**
 * Reads `text` as a PostgreSQL URL. Without `sslmode`: `verify-full` when a
 * CA file is named, `disable` for loopback and unix sockets, `verify-full`
 * against the system's roots for any other host. `caFileOption` is the CA
 * file given outside the URL (`--database-ca-file`).
 */
export function parsePostgresUrl(text: string, caFileOption?: string): PostgresTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PostgresUrlError("not a URL (expected postgres://user@host:5432/database)");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new PostgresUrlError("the scheme must be postgres:// or postgresql://");
  }
  if (url.hash) throw new PostgresUrlError("unexpected #fragment");
  const params = url.searchParams;
  for (const name of OWN_PARAMS) {
    if (params.getAll(name).length > 1) throw new PostgresUrlError(`${name} is given more than once`);
  }
  if (params.has("ssl")) throw new PostgresUrlError("use sslmode=disable|require|verify-full instead of ssl");
  // Only the user info may hold a password: redaction looks there, and nowhere else.
  if (params.has("password"))
    throw new PostgresUrlError("put the password in the user info (postgres://user:password@host) or in the password file, not in a parameter");

  const hostParam = params.get("host");
  if (hostParam !== null && !hostParam.startsWith("/")) {
    throw new PostgresUrlError("the host parameter must be a unix socket directory (/run/postgresql); put a host name before the path");
  }
  const hostname = decode(url.hostname.replace(/^\[(.*)\]$/, "$1"));
  if (hostParam !== null && hostname) throw new PostgresUrlError("give either a host or a host parameter (socket directory), not both");
  if (hostParam === null && !hostname) throw new PostgresUrlError("no host (expected postgres://user@host:5432/database)");
  if (hostname.includes(",")) throw new PostgresUrlError("several hosts are not supported; give one");
  // libpq's two ways to name a socket directory: `?host=/run/postgresql` and `postgres://%2Frun%2Fpostgresql/db`.
  const host = hostParam ?? hostname;
  const socket = host.startsWith("/");
  const username = url.username ? decode(url.username) : (params.get("user") ?? undefined);

  const rootCert = params.get("sslrootcert") ?? undefined;
  if (rootCert !== undefined && caFileOption !== undefined) {
    throw new PostgresUrlError("the URL's sslrootcert and the CA file option both name a CA; give one");
  }
  const caFile = rootCert === "system" ? undefined : (rootCert ?? caFileOption);
  const explicit = parseSslMode(params.get("sslmode"));
  if (explicit === "disable" && (caFile !== undefined || rootCert === "system")) {
    throw new PostgresUrlError("sslmode=disable with a CA file: the CA would never be used");
  }
  const sslMode: SslMode = explicit ?? (caFile !== undefined || rootCert === "system" || !isLocalHost(host, socket) ? "verify-full" : "disable");
  if (socket && sslMode !== "disable") throw new PostgresUrlError(`sslmode=${sslMode} over a unix socket: TLS is for TCP connections`);

  const rest = new URLSearchParams([...params].filter(([name]) => !OWN_PARAMS.includes(name)));
  const query = rest.size > 0 ? `?${rest.toString()}` : "";
  const portParam = params.get("port");
  if (portParam !== null && (url.port || !/^\d{1,5}$/.test(portParam) || Number(portParam) > 65535)) {
    throw new PostgresUrlError(url.port ? "give the port once, in the host or as a parameter" : `port must be a number from 1 to 65535, got "${portParam}"`);
  }
  const port = Number(url.port || portParam || 5432);
  const database = decode(url.pathname.replace(/^\//, ""));
  return {
    host,
    port,
    socket,
    database: database || undefined,
    username,
    password: url.password ? decode(url.password) : undefined,
    sslMode,
    caFile,
    clientUrl: `postgres://${socket ? "" : url.host}${url.pathname}${query}`,
  };
}
