import type { Runtime } from "./types.ts";

export type { Runtime, ServerHandle, SqliteClient, TlsPem } from "./types.ts";

/** Picks the runtime adapter; each is loaded only where its built-ins exist. */
export async function detectRuntime(): Promise<Runtime> {
  if ("Bun" in globalThis) return (await import("./bun.ts")).bunRuntime;
  return (await import("./deno.ts")).denoRuntime;
}
