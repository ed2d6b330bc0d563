/**
 * Opens the postgres.js pool keyward uses for PostgreSQL. postgres.js runs on
 * Bun and on Deno (as an npm package), which Bun.SQL does not. Everything it
 * would otherwise take from PG* variables or the URL's own TLS parameters is
 * decided here: the password (the URL's, or the password file's), TLS (see
 * ./url.ts), the pool size, and how int8 values come back.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { ConnectionOptions } from "node:tls";
import postgres, { type Options, type PostgresType, type Sql } from "postgres";
import { parsePostgresUrl, redactPostgresUrl, type PostgresTarget } from "./url.ts";

export { PostgresUrlError, redactPostgresUrl, SSL_MODES, type SslMode } from "./url.ts";

export interface PostgresOptions {
  /** `postgres://` or `postgresql://`; `sslmode` and `sslrootcert` are read as libpq reads them. */
  url: string;
  /** A file whose trimmed content is the password; wins over the URL's. */
  passwordFile?: string;
  /** PEM file of the CA that signed the server's certificate (like `sslrootcert`). */
  caFile?: string;
  /** Connections in the pool. */
  max?: number;
  /** How the connections show in `pg_stat_activity` ("keyward"). */
  applicationName?: string;
}

/** Enough for a server's transactions, the log writer and the background loops, small enough for several instances on one server. */
export const DEFAULT_POOL_SIZE = 10;

/**
 * int8 as a JavaScript number while it is exact, which every value keyward
 * stores is (milliseconds, micro-dollars, counters, `count(*)`); past 2^53 a
 * bigint, so a value that lost digits can never pass for a right one.
 */
export const INT8_AS_NUMBER: PostgresType<number | bigint> = {
  to: 20,
  from: [20],
  serialize: (value) => value.toString(),
  parse: (raw: string) => {
    const n = Number(raw);
    return Number.isSafeInteger(n) ? n : BigInt(raw);
  },
};

type KeywardTypes = { bigint: PostgresType<number | bigint> };

function readSecretFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`Cannot read the database ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return text;
}

/** The `ssl` option postgres.js gets: `false`, or tls.connect options. */
export function tlsOptions(target: PostgresTarget): false | ConnectionOptions {
  if (target.sslMode === "disable") return false;
  const ca = target.caFile === undefined ? undefined : readSecretFile(target.caFile, "CA");
  if (target.sslMode === "require") {
    // libpq's `require` with a root certificate checks the chain but not the name (its verify-ca).
    return ca === undefined ? { rejectUnauthorized: false } : { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  }
  // An IP address is checked against the certificate's IP SANs; SNI must not carry one (RFC 6066).
  const servername = isIP(target.host) ? undefined : target.host;
  return { ...(ca === undefined ? {} : { ca }), rejectUnauthorized: true, ...(servername ? { servername } : {}) };
}

/**
 * The options `openPostgres` gives postgres.js, files read: exported so that
 * tests can check what reaches the driver without a server that asks for it.
 */
export function postgresClientOptions(options: PostgresOptions): { url: string; options: Options<KeywardTypes> } {
  const target = parsePostgresUrl(options.url, options.caFile);
  let password = target.password;
  if (options.passwordFile !== undefined) {
    password = readSecretFile(options.passwordFile, "password").trim();
    if (!password) throw new Error(`Cannot read the database password file ${options.passwordFile}: it is empty`);
  }
  return {
    url: target.clientUrl,
    options: {
      host: target.host,
      port: target.port,
      ...(target.database === undefined ? {} : { database: target.database }),
      ...(target.username === undefined ? {} : { username: target.username }),
      // A function, so the password is not a field of the options object that a debug print would show.
      ...(password === undefined ? {} : { password: () => password }),
      ssl: tlsOptions(target),
      max: options.max ?? DEFAULT_POOL_SIZE,
      // Notices (`CREATE … IF NOT EXISTS` on an existing object) are not problems; postgres.js prints them by default.
      onnotice: () => undefined,
      types: { bigint: INT8_AS_NUMBER },
      connection: { application_name: options.applicationName ?? "keyward" },
    },
  };
}

/** Where `options` points, for logs and messages: the URL without its password, and the TLS mode in force. */
export function describePostgres(options: PostgresOptions): string {
  return `${redactPostgresUrl(options.url)} (sslmode ${parsePostgresUrl(options.url, options.caFile).sslMode})`;
}

/**
 * A postgres.js pool for `options`. Connects lazily, on the first query, so
 * a wrong password or an unreachable host surfaces there, not here; what it
 * throws at once is a bad URL or an unreadable file.
 */
export function openPostgres(options: PostgresOptions): Sql {
  const client = postgresClientOptions(options);
  return postgres(client.url, client.options);
}
