import { setDefaultTimeout } from "bun:test";

// Tests start real servers, subprocesses and argon2 on a 2-core machine; 5 s is too tight.
setDefaultTimeout(60_000);
