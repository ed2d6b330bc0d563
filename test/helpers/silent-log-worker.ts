/** Stands in for a log worker that hangs: it opens, then never answers again. */
const port = globalThis as unknown as { onmessage: ((event: MessageEvent<{ type: string }>) => void) | null; postMessage(m: unknown): void };
port.onmessage = (event) => {
  if (event.data.type === "open") port.postMessage({ type: "opened" });
};
export {};
