/**
 * What every page with actions keeps: the action under way (its error and
 * busy state), the dialog it may open, the notice of what was done, and
 * `done`, which reloads the page's list before saying so, so the notice never
 * describes a list that does not show it yet.
 */
import { useState } from "preact/hooks";
import { useModal } from "./dialog.ts";
import { useAction } from "./ui.ts";

export function usePageActions(reload: () => Promise<void>) {
  const [notice, setNotice] = useState<string | null>(null);
  const action = useAction();
  const modal = useModal();
  const done = async (text: string): Promise<void> => {
    await reload();
    setNotice(text);
  };
  return { notice, setNotice, action, modal, done };
}
