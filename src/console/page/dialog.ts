/**
 * In-page dialogs instead of prompt()/confirm(): a modal <dialog> (the browser
 * makes the rest of the page inert and traps Tab), named by its heading, with
 * focus moved into it on open and given back to what opened it on close.
 * Escape closes it (the native `cancel`, then `close`).
 */
import type { ComponentChildren, VNode } from "preact";
import { useCallback, useEffect, useId, useRef, useState } from "preact/hooks";
import { html } from "./html.ts";
import { ErrorText, useAction } from "./ui.ts";

type Render = (close: () => void) => VNode;

/** One dialog at a time per page: `open(close => html\`<${SomeDialog} onClose=${close} />\`)`, render `node`. */
export function useModal(): { node: VNode | null; open: (render: Render) => void; close: () => void } {
  const [render, setRender] = useState<Render | null>(null);
  const close = useCallback(() => setRender(null), []);
  // A function given to setState is called as an updater: wrap it.
  const open = useCallback((r: Render) => setRender(() => r), []);
  return { node: render ? render(close) : null, open, close };
}

export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }): VNode {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    el.showModal();
    // Cancel first for a confirmation (data-autofocus), else the first field: never a destructive button.
    const first =
      el.querySelector<HTMLElement>("[data-autofocus]") ?? el.querySelector<HTMLElement>("input:not([type=hidden]):not([readonly]), select, textarea, button");
    first?.focus();
    // Escape closes the native dialog; the component follows (Chromium may refuse to let `cancel` be prevented).
    const closed = (): void => onClose.current();
    el.addEventListener("close", closed);
    return () => {
      el.removeEventListener("close", closed);
      if (el.open) el.close();
      // The opener may have gone with its row (a deleted key): then the page's main region.
      const back = opener?.isConnected ? opener : document.getElementById("main");
      back?.focus();
    };
  }, []);
  return html`<dialog ref=${ref} class=${props.wide ? "modal wide" : "modal"} aria-labelledby=${titleId}>
    <h2 id=${titleId}>${props.title}</h2>
    ${props.children}
  </dialog>`;
}

/** A question with a cancel and a confirm button; the API's error stays in the dialog. */
export function ConfirmDialog(props: {
  title: string;
  confirm: string;
  onConfirm: () => Promise<void>;
  onClose: () => void;
  children: ComponentChildren;
  danger?: boolean;
  ready?: boolean;
}): VNode {
  const action = useAction();
  const go = (): void =>
    void action.run(async () => {
      await props.onConfirm();
      props.onClose();
    });
  return html`<${Dialog} title=${props.title} onClose=${props.onClose}>
    <div class="dialog-body">${props.children}</div>
    <${ErrorText} error=${action.error} />
    <div class="row end">
      <button type="button" class="secondary" data-autofocus onClick=${props.onClose}>Cancel</button>
      <button type="button" class=${props.danger ? "danger" : ""} disabled=${action.busy || props.ready === false} onClick=${go}>${props.confirm}</button>
    </div>
  <//>`;
}

/** A form in a dialog: submit runs `onSubmit` with the form, closes on success, shows the API's error otherwise. */
export function FormDialog(props: {
  title: string;
  submit: string;
  onSubmit: (form: HTMLFormElement) => Promise<void>;
  onClose: () => void;
  children: ComponentChildren;
  wide?: boolean;
}): VNode {
  const action = useAction();
  const submit = (e: Event): void => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    void action.run(async () => {
      await props.onSubmit(form);
      props.onClose();
    });
  };
  return html`<${Dialog} title=${props.title} onClose=${props.onClose} wide=${props.wide}>
    <form onSubmit=${submit} aria-label=${props.title}>
      ${props.children}
      <${ErrorText} error=${action.error} />
      <div class="row end">
        <button type="button" class="secondary" onClick=${props.onClose}>Cancel</button>
        <button type="submit" disabled=${action.busy}>${props.submit}</button>
      </div>
    </form>
  <//>`;
}
