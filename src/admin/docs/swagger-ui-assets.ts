/**
 * Swagger UI's own files, imported by the first request for one of them
 * (swagger-ui.ts): imported with the app, the bundle stayed resident in
 * every server, though most never serve the page (figures in
 * test/bench/README.md). Text imports work in `bun build --compile` and on
 * Deno alike.
 */
import bundle from "../../../node_modules/swagger-ui-dist/swagger-ui-bundle.js" with { type: "text" };
import css from "../../../node_modules/swagger-ui-dist/swagger-ui.css" with { type: "text" };

// The source map is not shipped; drop the comment so browsers do not ask for it.
export const BUNDLE = bundle.replace(/\n\/\/# sourceMappingURL=.*\s*$/, "\n");
export const CSS = css;
