import pkg from "../package.json" with { type: "json" };
import { JOURNAL } from "./db/migrations.ts";

export const VERSION: string = pkg.version;

/** The git commit the binary was built from (`--define KEYWARD_COMMIT`), "unknown" when run from source. */
export const COMMIT: string = typeof KEYWARD_COMMIT === "string" && KEYWARD_COMMIT ? KEYWARD_COMMIT : "unknown";

/** The newest migration tag this build carries. */
export const SCHEMA_VERSION: string = JOURNAL[JOURNAL.length - 1]?.tag ?? "none";
