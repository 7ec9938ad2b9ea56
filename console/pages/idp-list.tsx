/** Identity providers: the list (flow, enabled, script versions), create, enable/disable, delete. */
import { useState } from 'preact/hooks';
import { api, config, query } from '../api';
import { ErrorMessage, Notice } from '../components/errors';
import { useAction, usePagedList } from '../components/hooks';
import { LoadMore } from '../components/row-actions';
import { href, navigate } from '../router';
import { type IdentityProvider, SCRIPT_KINDS } from '../types';

/** What a new IdP starts with: the flow's required scripts, as templates to edit. */
export const TEMPLATES = {
  init: `function execute(requestPayload, userIdentifier, registrationData, hookContextCustomParams) {
  return { status: 2000, registrationData: requestPayload };
}
`,
  complete: `function execute(requestPayload, userIdentifier, registrationData, hookContextCustomParams) {
  return { status: 2000, user: { id: "user-id" } };
}
`,
};

function CreateIdp({ onCreated }: { onCreated: (id: string) => void }) {
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const [flow, setFlow] = useState<'one_step' | 'two_step'>('one_step');
  const action = useAction();
  const submit = async (event: Event) => {
    event.preventDefault();
    const scripts: Record<string, { source: string }> = { complete: { source: TEMPLATES.complete } };
    if (flow === 'two_step') scripts.init = { source: TEMPLATES.init };
    const created = await action.run(() =>
      api.post<IdentityProvider>(config('identity-providers'), { id, name: name || null, flow, scripts }),
    );
    if (created) {
      setId('');
      setName('');
      onCreated(created.id);
    }
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby="create-idp-title">
      <h2 id="create-idp-title">New identity provider</h2>
      <p class="hint">
        It starts with a template complete script (and init script for two_step) that you then edit.
      </p>
      <div class="row">
        <div class="field">
          <label for="idp-id">Id</label>
          <input
            id="idp-id"
            required
            value={id}
            onInput={(e) => setId(e.currentTarget.value)}
            pattern="[A-Za-z0-9._~\-]{1,128}"
          />
        </div>
        <div class="field">
          <label for="idp-name">Name</label>
          <input id="idp-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="idp-flow">Flow</label>
          <select
            id="idp-flow"
            value={flow}
            onChange={(e) => setFlow(e.currentTarget.value as 'one_step' | 'two_step')}
          >
            <option value="one_step">one_step</option>
            <option value="two_step">two_step</option>
          </select>
        </div>
        <button type="submit" disabled={action.busy}>
          Create
        </button>
      </div>
      <ErrorMessage error={action.error} />
    </form>
  );
}

export function IdpListPage() {
  const list = usePagedList<IdentityProvider>(
    (cursor) => `${config('identity-providers')}${query({ limit: 50, cursor })}`,
    [],
  );
  const action = useAction();
  const [notice, setNotice] = useState<string | null>(null);
  const toggle = async (idp: IdentityProvider) => {
    const done = await action.run(() =>
      api.patch<IdentityProvider>(config('identity-providers', idp.id), { enabled: !idp.enabled }),
    );
    if (done) {
      setNotice(`${idp.id} is now ${done.enabled ? 'enabled' : 'disabled'}.`);
      list.reload();
    }
  };
  const remove = async (idp: IdentityProvider) => {
    if (!confirm(`Delete identity provider ${idp.id} and all its script versions?`)) return;
    const done = await action.run(async () => {
      await api.del(config('identity-providers', idp.id));
      return true;
    });
    if (done) {
      setNotice(`${idp.id} deleted.`);
      list.reload();
    }
  };
  return (
    <section aria-labelledby="idps-title">
      <h1 id="idps-title">Identity providers</h1>
      <ErrorMessage error={list.error ?? action.error} />
      <Notice text={notice} />
      <table>
        <thead>
          <tr>
            <th scope="col">Id</th>
            <th scope="col">Name</th>
            <th scope="col">Flow</th>
            <th scope="col">Enabled</th>
            <th scope="col">Scripts (active version)</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {list.items.map((idp) => (
            <tr key={idp.id} data-idp={idp.id}>
              <td>
                <a href={href('identity-providers', idp.id)}>{idp.id}</a>
              </td>
              <td>{idp.name ?? ''}</td>
              <td>{idp.flow}</td>
              <td>{idp.enabled ? 'yes' : 'no'}</td>
              <td>
                {SCRIPT_KINDS.filter((kind) => idp.scripts[kind]).map((kind) => (
                  <a class="tag" key={kind} href={href('identity-providers', idp.id, 'scripts', kind)}>
                    {kind} v{idp.scripts[kind]?.version}
                  </a>
                ))}
              </td>
              <td class="actions">
                <button type="button" class="secondary" onClick={() => toggle(idp)} disabled={action.busy}>
                  {idp.enabled ? 'Disable' : 'Enable'}
                  <span class="sr-only"> {idp.id}</span>
                </button>
                <button type="button" class="danger" onClick={() => remove(idp)} disabled={action.busy}>
                  Delete<span class="sr-only"> {idp.id}</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.loading ? <p>Loading…</p> : list.items.length === 0 ? <p>No identity providers yet.</p> : null}
      <LoadMore list={list} />
      <CreateIdp onCreated={(id) => navigate('identity-providers', id)} />
    </section>
  );
}
