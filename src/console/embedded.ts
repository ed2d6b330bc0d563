/**
 * The built console (src/console/dist/, made by build.ts), as text: embedded
 * by `bun build --compile`, read from the file from source and on Deno.
 * routes.ts imports this module dynamically, so a missing dist/ is a caught
 * error there rather than a failure to start.
 */
import js from "./dist/console.js" with { type: "text" };
import css from "./dist/console.css" with { type: "text" };

export const bundle = { js, css };
