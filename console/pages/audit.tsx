/** The stored configuration changes (`GET /api/v1/audit-events`): who, when, what, before and after. */
import { useState } from 'preact/hooks';
import { query } from '../api';
import { ErrorMessage } from '../components/errors';
import { usePagedList } from '../components/hooks';
import { LoadMore } from '../components/row-actions';
import type { AuditEvent } from '../types';

const RESOURCES = ['', 'api_client', 'application', 'identity_provider', 'script', 'property'];

const show = (value: unknown) =>
  value === null || value === undefined ? '—' : JSON.stringify(value, null, 2);

export function AuditPage() {
  const [filters, setFilters] = useState({ resource: '', resource_id: '', client_id: '' });
  const [draft, setDraft] = useState(filters);
  const list = usePagedList<AuditEvent>(
    (cursor) => `/api/v1/audit-events${query({ limit: 50, cursor, ...filters })}`,
    [filters.resource, filters.resource_id, filters.client_id],
  );
  const apply = (event: Event) => {
    event.preventDefault();
    setFilters({ ...draft });
  };
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit: configuration changes</h1>
      <form class="row wrap filters" onSubmit={apply} aria-label="Filter the events">
        <div class="field">
          <label for="audit-resource">Resource</label>
          <select
            id="audit-resource"
            value={draft.resource}
            onChange={(e) => setDraft({ ...draft, resource: e.currentTarget.value })}
          >
            {RESOURCES.map((r) => (
              <option key={r} value={r}>
                {r || 'any'}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="audit-resource-id">Resource id</label>
          <input
            id="audit-resource-id"
            placeholder="hello/backchannel"
            value={draft.resource_id}
            onInput={(e) => setDraft({ ...draft, resource_id: e.currentTarget.value })}
          />
        </div>
        <div class="field">
          <label for="audit-client">Changed by (client id)</label>
          <input
            id="audit-client"
            value={draft.client_id}
            onInput={(e) => setDraft({ ...draft, client_id: e.currentTarget.value })}
          />
        </div>
        <button type="submit">Filter</button>
        <button type="button" class="secondary" onClick={list.reload}>
          Refresh
        </button>
      </form>
      <ErrorMessage error={list.error} />
      <table class="audit">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">Resource</th>
            <th scope="col">Action</th>
            <th scope="col">Before</th>
            <th scope="col">After</th>
          </tr>
        </thead>
        <tbody>
          {list.items.map((event) => (
            <tr key={event.id} data-event={event.id}>
              <td>
                <time dateTime={event.at}>{new Date(event.at).toLocaleString()}</time>
              </td>
              <td>{event.client_id ?? '—'}</td>
              <td>
                {event.resource} <code>{event.resource_id}</code>
              </td>
              <td>{event.action}</td>
              <td>
                <pre>{show(event.before)}</pre>
              </td>
              <td>
                <pre>{show(event.after)}</pre>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.loading ? <p>Loading…</p> : list.items.length === 0 ? <p>No events.</p> : null}
      <LoadMore list={list} />
    </section>
  );
}
