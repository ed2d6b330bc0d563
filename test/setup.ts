import { plugin } from "bun";
import { setDefaultTimeout } from "bun:test";

// Tests start real servers, subprocesses and argon2 on a 2-core machine; Bun's 5 s default is too tight.
const TIMEOUT_MS = 60_000;

// Bun 1.4.5 reads no timeout from bunfig.toml, and setDefaultTimeout() called here, at the top of a
// preload, applies to the first test file only (the runner resets it after each file). So it is set as
// each test file is loaded, before that file declares its tests: every file gets it, none calls it itself.
plugin({
  name: "keyward-test-timeout",
  setup(build) {
    build.onLoad({ filter: /\.test\.ts$/ }, async ({ path }) => {
      setDefaultTimeout(TIMEOUT_MS);
      return { contents: await Bun.file(path).text(), loader: "ts" };
    });
  },
});
