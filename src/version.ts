import pkg from "../package.json" with { type: "json" };
import { JOURNAL } from "./db/migrations.ts";

export const VERSION: string = pkg.version;

/** The newest migration tag this build carries. */
export const SCHEMA_VERSION: string = JOURNAL[JOURNAL.length - 1]?.tag ?? "none";
