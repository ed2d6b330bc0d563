/** Small shared pieces: forms, tables, messages, money, the secret shown once. */
import type { ComponentChildren, VNode } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { message } from "./api.ts";
import { html } from "./html.ts";

export const usd = (n: number | null | undefined): string => (n === null || n === undefined ? "—" : `$${n < 1 && n > 0 ? n.toFixed(4) : n.toFixed(2)}`);
export const when = (iso: string | null | undefined): string => (iso ? iso.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC") : "—");

/** A load that shows its error and can be run again; `reload()` settles once the new data (or error) is in. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: string | null; reload: () => Promise<void> } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const waiting = useRef<(() => void)[]>([]);
  useEffect(() => {
    let live = true;
    const settle = (): void => {
      for (const resolve of waiting.current.splice(0)) resolve();
    };
    load().then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(null);
        settle();
      },
      (err: unknown) => {
        if (!live) return;
        setError(message(err));
        settle();
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(
    () =>
      new Promise<void>((resolve) => {
        waiting.current.push(resolve);
        setTick((t) => t + 1);
      }),
    [],
  );
  return { data, error, reload };
}

/** Runs an action, remembering its error for display (the API's own message). */
export function useAction(): { error: string | null; busy: boolean; run: (f: () => Promise<void>) => Promise<void>; clear: () => void } {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (f: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await f();
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, run, clear: () => setError(null) };
}

export function ErrorText(props: { error: string | null }): VNode | null {
  return props.error ? html`<p class="error" role="alert">${props.error}</p>` : null;
}

export function Field(props: { label: string; id: string; children: ComponentChildren; hint?: string }): VNode {
  return html`<div class="field">
    <label for=${props.id}>${props.label}</label>
    ${props.children} ${props.hint ? html`<small id=${`${props.id}-hint`}>${props.hint}</small>` : null}
  </div>`;
}

export interface Column<T> {
  title: string;
  cell: (row: T) => ComponentChildren;
}

export function Table<T>(props: { caption: string; rows: T[]; columns: Column<T>[]; empty?: string }): VNode {
  if (props.rows.length === 0) return html`<p class="empty">${props.empty ?? "Nothing yet."}</p>`;
  return html`<div class="table-wrap">
    <table>
      <caption>
        ${props.caption}
      </caption>
      <thead>
        <tr>
          ${props.columns.map((c) => html`<th scope="col">${c.title}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${props.rows.map(
          (r) =>
            html`<tr>
              ${props.columns.map((c) => html`<td>${c.cell(r)}</td>`)}
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

/** Spend against a budget: a <meter> (no inline style) and the figures. */
export function SpendBar(props: { spend: number; budget: number | null; label: string }): VNode {
  if (props.budget === null) return html`<span>${usd(props.spend)} <small>(no budget)</small></span>`;
  return html`<span class="spend">
    <meter min="0" max=${props.budget} low=${props.budget * 0.75} high=${props.budget * 0.9} optimum="0" value=${props.spend} aria-label=${props.label}></meter>
    ${usd(props.spend)} of ${usd(props.budget)}
  </span>`;
}

/** A secret shown once: copy button, and the plain warning that it will not be shown again. */
export function SecretOnce(props: { title: string; secret: string; onDone: () => void; what?: string; note?: string }): VNode {
  const [copied, setCopied] = useState<string>("");
  const what = props.what ?? "key";
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(props.secret);
      setCopied("Copied.");
    } catch {
      // Clipboard refused (no permission, not a secure context): the field is selected for a manual copy.
      const field = document.getElementById("secret-value");
      if (field instanceof HTMLInputElement) field.select();
      setCopied("Copying was refused: the value is selected, copy it with the keyboard.");
    }
  };
  return html`<section class="secret" aria-labelledby="secret-title">
    <h3 id="secret-title">${props.title}</h3>
    <p class="warning"><strong>Copy this ${what} now: it won't be shown again.</strong> ${props.note ?? "keyward stores only its hash."}</p>
    <label for="secret-value">${what.charAt(0).toUpperCase() + what.slice(1)}</label>
    <input id="secret-value" class="secret-value" readonly value=${props.secret} />
    <div class="row">
      <button type="button" onClick=${() => void copy()}>Copy</button>
      <span role="status">${copied}</span>
      <button type="button" class="secondary" onClick=${props.onDone}>I have stored it</button>
    </div>
  </section>`;
}

/** What an action did, announced politely. */
export function Notice(props: { text: string | null }): VNode | null {
  return props.text ? html`<p class="ok" role="status">${props.text}</p>` : null;
}
