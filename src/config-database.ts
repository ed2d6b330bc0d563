/**
 * The database options of the config (`--database-url`, its password file
 * and CA file), checked when the config is read so that a URL keyward cannot
 * use stops every command with a usage error, before anything starts. The
 * URL is never repeated with its password: errors do not show it, and
 * `config check` shows it redacted.
 */
import { ConfigError } from "./config-error.ts";
import type { PostgresOptions } from "./db/pg/connect.ts";
import { parsePostgresUrl, PostgresUrlError } from "./db/pg/url.ts";

export { redactPostgresUrl } from "./db/pg/url.ts";

export interface DatabaseValues {
  url?: string;
  passwordFile?: string;
  caFile?: string;
}

/** How each option is named in an error: the flag, the variable or the file key it came from. */
export type Describe = (flag: "database-url" | "database-password-file" | "database-ca-file") => string;

/**
 * PostgreSQL's options when a database URL is set, undefined for SQLite.
 * Reads no file: a missing password or CA file is reported when the
 * connection is opened, as a missing TLS certificate is when serving starts.
 */
export function postgresConfig(values: DatabaseValues, describe: Describe): PostgresOptions | undefined {
  const { url, passwordFile, caFile } = values;
  if (url === undefined) {
    // Either alone would be ignored, and an operator who set one meant PostgreSQL: say so rather than run on SQLite.
    if (passwordFile !== undefined)
      throw new ConfigError(`Invalid ${describe("database-password-file")}: --database-url (KEYWARD_DATABASE_URL) is required too`);
    if (caFile !== undefined) throw new ConfigError(`Invalid ${describe("database-ca-file")}: --database-url (KEYWARD_DATABASE_URL) is required too`);
    return undefined;
  }
  try {
    parsePostgresUrl(url, caFile);
  } catch (err) {
    if (!(err instanceof PostgresUrlError)) throw err;
    // Not even redacted: in a URL that is not what was meant, the password may sit where redaction does not look.
    throw new ConfigError(`Invalid ${describe("database-url")}: ${err.message}`);
  }
  return {
    url,
    ...(passwordFile === undefined ? {} : { passwordFile }),
    ...(caFile === undefined ? {} : { caFile }),
  };
}
