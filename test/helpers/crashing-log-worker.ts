/**
 * Stands in for the log worker in a test of what happens when it dies: it
 * accepts messages like the real one, then throws once a commit is asked for,
 * before writing anything.
 */
const port = globalThis as unknown as { onmessage: ((event: MessageEvent<{ type: string }>) => void) | null; postMessage(m: unknown): void };
port.onmessage = (event) => {
  if (event.data.type === "open") port.postMessage({ type: "opened" });
  if (event.data.type === "commit") throw new Error("log worker crashed");
};
export {};
