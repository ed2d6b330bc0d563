/**
 * An event (a workshop, a hackathon): many keys with the same limits, in one
 * team whose budget caps them all, minted in one call and downloaded as CSV.
 */
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import { api, send, type Page } from "./api.ts";
import { num, value } from "./forms.ts";
import { html } from "./html.ts";
import { MintLimitFields, mintBody } from "./limits.ts";
import { providerOptions, teamOptions, type ProviderKey, type Team } from "./models.ts";
import { ErrorText, Field, useAction, useLoad } from "./ui.ts";

export function EventBatch(): VNode {
  const providers = useLoad(() => api<Page<ProviderKey>>("GET", "/api/provider-keys?limit=200"), []);
  const teams = useLoad(() => api<Page<Team>>("GET", "/api/teams?limit=200"), []);
  const action = useAction();
  const [done, setDone] = useState<string | null>(null);
  const submit = (e: Event): void => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    setDone(null);
    void action.run(async () => {
      let teamId = value(form, "team_id");
      const newTeam = value(form, "new_team");
      if (newTeam) {
        const teamBudget = num(form, "team_budget");
        const team = await api<Team>("POST", "/api/teams", { name: newTeam, ...(teamBudget !== undefined ? { budget_usd: teamBudget } : {}) });
        teamId = team.id;
        await teams.reload();
      }
      const prefix = value(form, "name_prefix");
      const body = {
        count: num(form, "count") ?? 1,
        name_prefix: prefix,
        provider_key_id: value(form, "provider_key"),
        ...mintBody(form),
        ...(teamId ? { team_id: teamId } : {}),
      };
      const res = await send("POST", "/api/proxy-keys/batch", body, { accept: "text/csv" });
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = `${prefix}-keys.csv`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setDone(`${body.count} keys minted; ${prefix}-keys.csv downloaded. The keys are in that file only: they will not be shown again.`);
    });
  };
  return html`<section aria-labelledby="ev-title">
    <h2 id="ev-title">Event: mint a batch of keys</h2>
    <p>For a workshop or a hackathon: many keys with the same limits, in one team whose budget caps them all, handed out from a CSV.</p>
    <form class="card" onSubmit=${submit} aria-label="Mint a batch of keys">
      <div class="grid">
        <${Field} label="How many keys" id="ev-count"><input id="ev-count" name="count" type="number" min="1" max="1000" required defaultValue="10" /><//>
        <${Field} label="Name prefix" id="ev-prefix" hint="Keys are named prefix-001, prefix-002…"
          ><input id="ev-prefix" name="name_prefix" required maxlength="100" aria-describedby="ev-prefix-hint"
        /><//>
        <${Field} label="Provider key" id="ev-provider"
          ><select id="ev-provider" name="provider_key" required>
            ${providerOptions(providers.data?.data)}
          </select><//
        >
        <${Field} label="Existing team" id="ev-team"
          ><select id="ev-team" name="team_id">
            ${teamOptions(teams.data?.data)}
          </select><//
        >
        <${Field} label="Or a new team named" id="ev-new-team"><input id="ev-new-team" name="new_team" maxlength="100" /><//>
        <${Field} label="New team's budget (USD)" id="ev-team-budget"><input id="ev-team-budget" name="team_budget" type="number" min="0" step="0.01" /><//>
        <${MintLimitFields} prefix="ev" />
      </div>
      <button type="submit" disabled=${action.busy}>Mint and download CSV</button>
    </form>
    <${ErrorText} error=${action.error ?? providers.error} />
    ${done ? html`<p class="ok" role="status">${done}</p>` : null}
  </section>`;
}
