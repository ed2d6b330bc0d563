/** Teams: shared limits and a shared budget over groups of keys; create, edit, disable/enable, delete. */
import type { VNode } from "preact";
import { api, type Page } from "./api.ts";
import { ConfirmDialog, FormDialog } from "./dialog.ts";
import { defined, value } from "./forms.ts";
import { html } from "./html.ts";
import { LimitFields, limitsBody, limitsPatch, limitSummary } from "./limits.ts";
import type { Team } from "./models.ts";
import { ErrorText, Field, Notice, SpendBar, Table, useLoad } from "./ui.ts";
import { usePageActions } from "./page-actions.ts";

interface Changed extends Team {
  warnings: string[];
}

const path = (t: Team, tail = ""): string => `/api/teams/${encodeURIComponent(t.id)}${tail}`;
/** The API's warnings (a budget already spent) belong in the message, not lost. */
const said = (text: string, t: Changed): string => [text, ...t.warnings].join(" ");

function EditTeam(props: { team: Team; onClose: () => void; onSaved: (message: string) => Promise<void> }): VNode {
  const t = props.team;
  const save = async (form: HTMLFormElement): Promise<void> => {
    const name = value(form, "name");
    const body = defined({ name: name !== t.name ? name : undefined, ...limitsPatch(form, t) });
    if (Object.keys(body).length === 0) return;
    const saved = await api<Changed>("PATCH", path(t), body);
    await props.onSaved(said(`Saved team ${saved.name}.`, saved));
  };
  return html`<${FormDialog} title=${`Edit team ${t.name}`} submit="Save" onSubmit=${save} onClose=${props.onClose} wide=${true}>
    <div class="grid">
      <${Field} label="Name" id="tme-name"><input id="tme-name" name="name" required maxlength="100" defaultValue=${t.name} /><//>
      <${LimitFields} prefix="tme" current=${t} />
    </div>
  <//>`;
}

function DeleteTeam(props: { team: Team; onClose: () => void; onDeleted: (message: string) => Promise<void> }): VNode {
  const t = props.team;
  const remove = async (): Promise<void> => {
    await api("DELETE", path(t));
    await props.onDeleted(`Deleted team ${t.name}.`);
  };
  return html`<${ConfirmDialog} title=${`Delete team ${t.name}?`} confirm="Delete team" danger=${true} onConfirm=${remove} onClose=${props.onClose}>
    <p>keyward refuses while proxy keys belong to the team (revoked and expired ones too): move them to another team or none first.</p>
  <//>`;
}

export function Teams(props: { admin: boolean }): VNode {
  const list = useLoad(() => api<Page<Team>>("GET", "/api/teams?limit=200"), []);
  const { notice, setNotice, action, modal, done } = usePageActions(() => list.reload());
  const create = (e: Event): void => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    setNotice(null);
    void action.run(async () => {
      const created = await api<Changed>("POST", "/api/teams", { name: value(form, "name"), ...limitsBody(form) });
      form.reset();
      await done(said(`Created team ${created.name}.`, created));
    });
  };
  const toggle = (t: Team): Promise<void> =>
    action.run(async () => {
      await api("POST", path(t, t.disabled ? "/enable" : "/disable"));
      await done(t.disabled ? `Enabled team ${t.name}.` : `Disabled team ${t.name}: its keys get 403 team_disabled until it is enabled.`);
    });
  const edit = (t: Team): void => modal.open((close) => html`<${EditTeam} team=${t} onClose=${close} onSaved=${done} />`);
  const remove = (t: Team): void => modal.open((close) => html`<${DeleteTeam} team=${t} onClose=${close} onDeleted=${done} />`);
  return html`<section aria-labelledby="tm-title">
    <h2 id="tm-title">Teams</h2>
    ${
      props.admin
        ? html`<form class="card" onSubmit=${create} aria-label="Create a team">
            <h3>Create a team</h3>
            <p>Its limits apply to every key in it on top of the key's own; its budget is shared by them all.</p>
            <div class="grid">
              <${Field} label="Team name" id="tm-name"><input id="tm-name" name="name" required maxlength="100" /><//>
              <${LimitFields} prefix="tm" />
            </div>
            <button type="submit" disabled=${action.busy}>Create team</button>
          </form>`
        : null
    }
    <${ErrorText} error=${action.error ?? list.error} />
    <${Notice} text=${notice} />
    <${Table}
      caption="Teams"
      rows=${list.data?.data ?? []}
      empty="No teams yet."
      columns=${[
        { title: "Name", cell: (t: Team) => t.name },
        {
          title: "Spend",
          cell: (t: Team) =>
            html`<${SpendBar}
                spend=${t.spend_usd}
                budget=${t.budget_usd}
                label=${`Spend of team ${t.name}`}
              />${t.budget_usd !== null ? html` <small>${t.budget_period}</small>` : null}`,
        },
        { title: "Limits", cell: (t: Team) => limitSummary(t) },
        { title: "Status", cell: (t: Team) => (t.disabled ? html`<span class="badge off">disabled</span>` : html`<span class="badge on">enabled</span>`) },
        ...(props.admin
          ? [
              {
                title: "Actions",
                cell: (t: Team) =>
                  html`<div class="row">
                    <button type="button" class="secondary" onClick=${() => edit(t)}>Edit ${t.name}</button>
                    <button type="button" class="secondary" onClick=${() => void toggle(t)}>${t.disabled ? "Enable" : "Disable"} ${t.name}</button>
                    <button type="button" class="danger" onClick=${() => remove(t)}>Delete ${t.name}</button>
                  </div>`,
              },
            ]
          : []),
      ]}
    />
    ${modal.node}
  </section>`;
}
