/** Applications (the OAuth clients apps register with): list, create and rotate (secret shown once), delete. */
import { useState } from 'preact/hooks';
import { api, config, query } from '../api';
import { ErrorMessage, Notice } from '../components/errors';
import { useAction, usePagedList } from '../components/hooks';
import { ClientRowActions, LoadMore } from '../components/row-actions';
import { generateSecret, SecretOnce } from '../components/secret';
import type { Application } from '../types';

const words = (text: string) => text.split(/[\s,]+/).filter(Boolean);

export function ApplicationsPage() {
  const list = usePagedList<Application>(
    (cursor) => `${config('applications')}${query({ limit: 50, cursor })}`,
    [],
  );
  const [secret, setSecret] = useState<{ clientId: string; secret: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [form, setForm] = useState({
    id: '',
    name: '',
    idps: '',
    scopes: 'openid',
    defaults: '',
    ttl: '3600',
    refresh: false,
  });
  const action = useAction();
  const create = async (event: Event) => {
    event.preventDefault();
    const newSecret = generateSecret();
    const done = await action.run(() =>
      api.post<Application>(config('applications'), {
        client_id: form.id,
        client_secret: newSecret,
        name: form.name || null,
        identity_providers: words(form.idps),
        scopes: words(form.scopes),
        default_scopes: words(form.defaults),
        access_token_ttl_seconds: Number(form.ttl),
        refresh_tokens: form.refresh,
      }),
    );
    if (done) {
      setSecret({ clientId: done.client_id, secret: newSecret });
      setForm({ ...form, id: '', name: '' });
      list.reload();
    }
  };
  const rotate = async (app: Application) => {
    if (!confirm(`Give ${app.client_id} a new secret? The old one stops working at once.`)) return;
    const newSecret = generateSecret();
    const done = await action.run(() =>
      api.patch<Application>(config('applications', app.client_id), { client_secret: newSecret }),
    );
    if (done) setSecret({ clientId: done.client_id, secret: newSecret });
  };
  const remove = async (app: Application) => {
    if (!confirm(`Delete application ${app.client_id}?`)) return;
    const done = await action.run(async () => {
      await api.del(config('applications', app.client_id));
      return true;
    });
    if (done) {
      setNotice(`${app.client_id} deleted.`);
      list.reload();
    }
  };
  const field = (key: keyof typeof form) => (e: { currentTarget: HTMLInputElement }) =>
    setForm({ ...form, [key]: e.currentTarget.value });
  return (
    <section aria-labelledby="apps-title">
      <h1 id="apps-title">Applications</h1>
      <p class="hint">The OAuth clients apps use for init, complete, tokens and revocation.</p>
      <ErrorMessage error={list.error ?? action.error} />
      <Notice text={notice} />
      {secret ? (
        <SecretOnce clientId={secret.clientId} secret={secret.secret} onDone={() => setSecret(null)} />
      ) : null}
      <table>
        <thead>
          <tr>
            <th scope="col">Client id</th>
            <th scope="col">Name</th>
            <th scope="col">Identity providers</th>
            <th scope="col">Scopes (default)</th>
            <th scope="col">Token TTL</th>
            <th scope="col">Refresh</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {list.items.map((app) => (
            <tr key={app.client_id} data-application={app.client_id}>
              <th scope="row" class="mono">
                {app.client_id}
              </th>
              <td>{app.name ?? ''}</td>
              <td>{app.identity_providers.join(', ')}</td>
              <td>
                {app.scopes.join(' ')}
                {app.default_scopes.length > 0 ? ` (${app.default_scopes.join(' ')})` : ''}
              </td>
              <td>{app.access_token_ttl_seconds} s</td>
              <td>{app.refresh_tokens ? 'yes' : 'no'}</td>
              <ClientRowActions
                clientId={app.client_id}
                busy={action.busy}
                onRotate={() => rotate(app)}
                onDelete={() => remove(app)}
              />
            </tr>
          ))}
        </tbody>
      </table>
      <LoadMore list={list} />
      <form class="card" onSubmit={create} aria-labelledby="new-app-title">
        <h2 id="new-app-title">New application</h2>
        <p class="hint">
          The console generates a random secret and shows it once. Lists are separated by spaces or commas.
        </p>
        <div class="row wrap">
          <div class="field">
            <label for="new-app-id">Client id</label>
            <input id="new-app-id" required value={form.id} onInput={field('id')} />
          </div>
          <div class="field">
            <label for="new-app-name">Name</label>
            <input id="new-app-name" value={form.name} onInput={field('name')} />
          </div>
          <div class="field">
            <label for="new-app-idps">Identity providers</label>
            <input id="new-app-idps" value={form.idps} onInput={field('idps')} />
          </div>
          <div class="field">
            <label for="new-app-scopes">Scopes</label>
            <input id="new-app-scopes" value={form.scopes} onInput={field('scopes')} />
          </div>
          <div class="field">
            <label for="new-app-defaults">Default scopes</label>
            <input id="new-app-defaults" value={form.defaults} onInput={field('defaults')} />
          </div>
          <div class="field">
            <label for="new-app-ttl">Access token TTL (s)</label>
            <input id="new-app-ttl" inputMode="numeric" value={form.ttl} onInput={field('ttl')} />
          </div>
          <div class="field check">
            <input
              id="new-app-refresh"
              type="checkbox"
              checked={form.refresh}
              onChange={(e) => setForm({ ...form, refresh: e.currentTarget.checked })}
            />
            <label for="new-app-refresh">Refresh tokens</label>
          </div>
          <button type="submit" disabled={action.busy}>
            Create
          </button>
        </div>
      </form>
    </section>
  );
}
