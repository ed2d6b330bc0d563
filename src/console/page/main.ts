/**
 * The console's shell: sign in with an admin token (kept in sessionStorage
 * only), ask the API what the token may do, and offer only those pages.
 */
import { render, type VNode } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, message, session } from "./api.ts";
import { html } from "./html.ts";
import { AdminTokens } from "./admin-tokens.ts";
import { AuditLog } from "./audit.ts";
import { EventBatch } from "./event.ts";
import { ProviderKeys } from "./provider-keys.ts";
import { ProxyKeys } from "./proxy-keys.ts";
import { Teams } from "./teams.ts";
import { TrustPolicies } from "./trust-policies.ts";
import { Logs, Usage } from "./usage.ts";
import { Webhooks } from "./webhooks.ts";

interface Self {
  id: string;
  name: string;
  scopes: string[];
}

interface Tab {
  id: string;
  label: string;
  view: () => VNode;
}

/** The pages a token's scopes reach (src/vault/scopes.ts): admin everything, read the lists, keys:issue minting only. */
function tabsFor(self: Self): Tab[] {
  const admin = self.scopes.includes("admin");
  const canRead = admin || self.scopes.includes("read");
  const canIssue = self.scopes.includes("keys:issue");
  const tabs: Tab[] = [];
  if (canRead) tabs.push({ id: "provider-keys", label: "Provider keys", view: () => html`<${ProviderKeys} admin=${admin} />` });
  if (canRead || canIssue)
    tabs.push({ id: "proxy-keys", label: "Proxy keys", view: () => html`<${ProxyKeys} admin=${admin} canRead=${canRead} canIssue=${canIssue} />` });
  if (admin) tabs.push({ id: "event", label: "Event", view: () => html`<${EventBatch} />` });
  if (canRead) {
    tabs.push(
      { id: "usage", label: "Usage", view: () => html`<${Usage} />` },
      { id: "logs", label: "Request log", view: () => html`<${Logs} />` },
      { id: "teams", label: "Teams", view: () => html`<${Teams} admin=${admin} />` },
      { id: "admin-tokens", label: "Admin tokens", view: () => html`<${AdminTokens} admin=${admin} selfId=${self.id} />` },
    );
  }
  // Trust policies are admin-only, reads included: they name who may mint keys.
  if (admin) tabs.push({ id: "oidc", label: "OIDC", view: () => html`<${TrustPolicies} />` });
  if (canRead) {
    tabs.push(
      { id: "webhooks", label: "Webhooks", view: () => html`<${Webhooks} admin=${admin} />` },
      { id: "audit", label: "Audit log", view: () => html`<${AuditLog} />` },
    );
  }
  return tabs;
}

const hashTab = (): string => location.hash.replace(/^#\/?/, "");

function SignIn(props: { onIn: (self: Self) => void }): VNode {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const input = (e.currentTarget as HTMLFormElement).elements.namedItem("token");
    const token = input instanceof HTMLInputElement ? input.value.trim() : "";
    setBusy(true);
    try {
      const self = await api<Self>("GET", "/api/admin-tokens/self", undefined, { token });
      session.save(token);
      props.onIn(self);
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };
  return html`<main id="main" class="signin">
    <h1>keyward console</h1>
    <form class="card" onSubmit=${(e: Event) => void submit(e)} aria-label="Sign in">
      <label for="token">Admin token</label>
      <input id="token" name="token" type="password" autocomplete="off" required placeholder="kwa_…" aria-describedby="token-hint" />
      <small id="token-hint">Kept in this tab only (sessionStorage), sent as a bearer token, forgotten on sign out.</small>
      <button type="submit" disabled=${busy}>Sign in</button>
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    </form>
  </main>`;
}

function App(): VNode {
  const [self, setSelf] = useState<Self | null>(null);
  const [checking, setChecking] = useState(session.token() !== null);
  const [tab, setTab] = useState(hashTab());
  useEffect(() => {
    const onHash = (): void => setTab(hashTab());
    addEventListener("hashchange", onHash);
    if (session.token() !== null) {
      api<Self>("GET", "/api/admin-tokens/self").then(
        (s) => {
          setSelf(s);
          setChecking(false);
        },
        () => {
          session.clear();
          setChecking(false);
        },
      );
    }
    return () => removeEventListener("hashchange", onHash);
  }, []);
  if (checking) return html`<p role="status">Checking the session…</p>`;
  if (!self) return html`<${SignIn} onIn=${setSelf} />`;
  const tabs = tabsFor(self);
  const current = tabs.find((t) => t.id === tab) ?? tabs[0];
  const signOut = (): void => {
    session.clear();
    setSelf(null);
    location.hash = "";
  };
  return html`<div class="shell">
    <a class="skip" href="#main">Skip to content</a>
    <header>
      <h1>keyward</h1>
      <nav aria-label="Console pages">
        <ul>
          ${tabs.map((t) => html`<li><a href=${`#/${t.id}`} aria-current=${t === current ? "page" : undefined}>${t.label}</a></li>`)}
        </ul>
      </nav>
      <div class="who">
        <span>${self.name} (${self.scopes.join(", ")})</span>
        <button type="button" class="secondary" onClick=${signOut}>Sign out</button>
      </div>
    </header>
    <main id="main" tabindex="-1">${current ? current.view() : html`<p>This token's scopes give no console pages.</p>`}</main>
  </div>`;
}

const root = document.getElementById("app");
if (root) render(html`<${App} />`, root);
