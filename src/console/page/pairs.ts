/**
 * Rows of name → value pairs that can be added and removed: Azure deployments
 * (deployment → model) and a trust policy's claims (claim → allowed values).
 * Each row is a fieldset with its own labelled inputs, so a screen reader
 * hears "Deployment 2, Deployment name" rather than a bare grid.
 */
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import { html } from "./html.ts";

export type Pair = [string, string];

export function usePairs(initial: Pair[]): { rows: Pair[]; set: (rows: Pair[]) => void } {
  const [rows, set] = useState<Pair[]>(initial);
  return { rows, set };
}

/** The rows with both halves filled in. */
export const filled = (rows: Pair[]): Pair[] => rows.map(([a, b]): Pair => [a.trim(), b.trim()]).filter(([a, b]) => a !== "" && b !== "");

export function PairRows(props: { id: string; legend: string; item: string; left: string; right: string; rows: Pair[]; set: (rows: Pair[]) => void }): VNode {
  const { rows, set } = props;
  const edit = (i: number, side: 0 | 1, text: string): void => set(rows.map((r, j): Pair => (j !== i ? r : side === 0 ? [text, r[1]] : [r[0], text])));
  const add = (): void => {
    set([...rows, ["", ""]]);
    // Into the new row, once rendered: keyboard users would otherwise start from the button again.
    setTimeout(() => document.getElementById(`${props.id}-${rows.length}-a`)?.focus(), 0);
  };
  return html`<fieldset class="pairs">
    <legend>${props.legend}</legend>
    ${rows.length === 0 ? html`<p class="empty">None.</p>` : null}
    ${rows.map(
      ([a, b], i) =>
        html`<fieldset class="pair">
          <legend>${props.item} ${i + 1}</legend>
          <div class="row">
            <div class="field">
              <label for=${`${props.id}-${i}-a`}>${props.left}</label>
              <input id=${`${props.id}-${i}-a`} value=${a} onInput=${(e: Event) => edit(i, 0, (e.currentTarget as HTMLInputElement).value)} />
            </div>
            <div class="field">
              <label for=${`${props.id}-${i}-b`}>${props.right}</label>
              <input id=${`${props.id}-${i}-b`} value=${b} onInput=${(e: Event) => edit(i, 1, (e.currentTarget as HTMLInputElement).value)} />
            </div>
            <button type="button" class="secondary" onClick=${() => set(rows.filter((_, j) => j !== i))}>Remove ${props.item.toLowerCase()} ${i + 1}</button>
          </div>
        </fieldset>`,
    )}
    <button type="button" class="secondary" onClick=${add}>Add ${props.item.toLowerCase()}</button>
  </fieldset>`;
}
