/**
 * Errors both storage backends raise, in a module of their own so that the
 * PostgreSQL side can throw them without loading the SQLite one.
 */

/** The shared database could not be reached, or could not commit in time: the answer is 503, and retrying later may succeed. */
export class StorageUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StorageUnavailableError";
  }
}

/** The database was written by a newer keyward: its schema is ahead of this binary's migrations. */
export class DatabaseVersionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatabaseVersionError";
  }
}

/** The refusal both migrators give, naming the newest schema this binary knows. */
export function newerDatabaseError(knownTag: string): DatabaseVersionError {
  return new DatabaseVersionError(
    `Cannot open database: it was written by a newer keyward (its schema is ahead of this binary's ${knownTag}); upgrade keyward`,
  );
}
