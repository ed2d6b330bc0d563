import htm from "htm";
import { h, type VNode } from "preact";

/** JSX-like tagged templates, no compile step: `html\`<p>${x}</p>\``. */
export const html = htm.bind(h) as (strings: TemplateStringsArray, ...values: unknown[]) => VNode;
