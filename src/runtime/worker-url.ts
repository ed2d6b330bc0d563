/**
 * Where a worker's entry module is, from source and inside the compiled
 * binary. `bun build --compile` stores extra entrypoints under `/$bunfs/root/`
 * by their path below `src/`, compiled to `.js`, while this module's own URL
 * becomes the binary's; from source (Bun, Deno, tests) the `.ts` file is a
 * sibling of `src/runtime/`.
 */
export function workerUrl(pathUnderSrc: string): string {
  const here = import.meta.url;
  if (here.includes("/$bunfs/")) return new URL(`./${pathUnderSrc}.js`, here).href;
  return new URL(`../${pathUnderSrc}.ts`, here).href;
}
