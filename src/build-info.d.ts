/** Set at build time by `bun build --define` (see package.json "build"); absent when running from source or on Deno. */
declare const KEYWARD_COMMIT: string | undefined;
