/**
 * The test panel: dry-runs the editor's draft with the arguments `execute` gets and a
 * seed for the scratch CACHE, and shows the report (status, payload, user, logs, outbound
 * calls, CPU and wall time, the scratch CACHE afterwards).
 */
import { useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorMessage } from '../components/errors';
import { problemsOf } from '../editor/problems';
import type { EditorProblem } from '../editor/script-editor';
import type { DryRunReport } from '../types';

/** Parses a JSON field of the form; throws a message naming the field. */
function jsonField(label: string, text: string): unknown {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${label} is not valid JSON: ${(error as Error).message}`);
  }
}

const pretty = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value, null, 2));

function statusClass(status: number | null): string {
  if (status === null) return 'bad';
  return status >= 2000 && status < 3000 ? 'good' : 'warn';
}

function Report({ report }: { report: DryRunReport }) {
  return (
    <div class="report" data-testid="dry-run-report" aria-live="polite">
      <p>
        Status{' '}
        <strong class={`status ${statusClass(report.status)}`} data-testid="dry-run-status">
          {report.status ?? 'failed'}
        </strong>{' '}
        · CPU {report.cpu_ms} ms · wall {report.wall_ms} ms
      </p>
      {report.error ? (
        <p class="error" role="alert">
          {report.error.kind}
          {report.error.line ? ` (line ${report.error.line})` : ''}: {report.error.message}
        </p>
      ) : null}
      <h3>Response payload</h3>
      <pre>{report.response_payload ?? 'null'}</pre>
      {report.registration_data !== null ? (
        <>
          <h3>Registration data</h3>
          <pre>{report.registration_data}</pre>
        </>
      ) : null}
      <h3>User</h3>
      <pre>{pretty(report.user ?? null)}</pre>
      <h3>Logs</h3>
      {report.logs.length === 0 ? (
        <p class="hint">none</p>
      ) : (
        <ol class="logs" data-testid="dry-run-logs">
          {report.logs.map((line, i) => (
            <li key={i} class={`log-${line.level}`}>
              <span class="level">{line.level}</span> {line.message}
            </li>
          ))}
        </ol>
      )}
      {report.logs_dropped > 0 ? <p class="hint">{report.logs_dropped} more lines dropped</p> : null}
      <h3>Outbound calls</h3>
      {report.outbound.length === 0 ? (
        <p class="hint">none</p>
      ) : (
        <ul>
          {report.outbound.map((c, i) => (
            <li key={i}>
              {c.method} {c.url}: {c.status ?? c.error} ({c.ms} ms)
            </li>
          ))}
        </ul>
      )}
      <h3>Scratch CACHE afterwards</h3>
      <pre>{JSON.stringify(report.cache, null, 2)}</pre>
    </div>
  );
}

export function TestPanel({
  path,
  source,
  onProblems,
}: {
  path: string;
  source: () => string;
  onProblems: (problems: EditorProblem[]) => void;
}) {
  const [data, setData] = useState('');
  const [dataNull, setDataNull] = useState(false);
  const [user, setUser] = useState('');
  const [registration, setRegistration] = useState('');
  const [hookParams, setHookParams] = useState('');
  const [cache, setCache] = useState('');
  const [overrides, setOverrides] = useState('');
  const [report, setReport] = useState<DryRunReport | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, unknown> = {
        source: source(),
        data: dataNull ? null : data,
        user_identifier: user || null,
        registration_data: registration || null,
      };
      const params = jsonField('Hook params', hookParams);
      if (params !== undefined) body.hook_context_custom_params = params;
      const seed = jsonField('CACHE seed', cache);
      if (seed !== undefined) body.cache = seed;
      const properties = jsonField('Property overrides', overrides);
      if (properties !== undefined) body.properties = properties;
      const result = await api.post<DryRunReport>(path, body);
      setReport(result);
      onProblems(result.error?.line ? [{ line: result.error.line, message: result.error.message }] : []);
    } catch (reason) {
      setReport(null);
      setError(reason);
      onProblems(problemsOf(reason));
    } finally {
      setBusy(false);
    }
  };
  return (
    <aside class="test-panel" aria-labelledby="test-title">
      <form onSubmit={run}>
        <h2 id="test-title">Test the draft</h2>
        <p class="hint">A dry run: same sandbox and limits, a scratch CACHE; nothing is saved.</p>
        <label for="dry-data">requestPayload (data)</label>
        <textarea
          id="dry-data"
          rows={3}
          class="mono"
          value={data}
          disabled={dataNull}
          onInput={(e) => setData(e.currentTarget.value)}
        />
        <div class="check">
          <input
            id="dry-data-null"
            type="checkbox"
            checked={dataNull}
            onChange={(e) => setDataNull(e.currentTarget.checked)}
          />
          <label for="dry-data-null">send null</label>
        </div>
        <label for="dry-user">userIdentifier</label>
        <input id="dry-user" value={user} onInput={(e) => setUser(e.currentTarget.value)} />
        <label for="dry-registration">registrationData</label>
        <textarea
          id="dry-registration"
          rows={2}
          class="mono"
          value={registration}
          onInput={(e) => setRegistration(e.currentTarget.value)}
        />
        <label for="dry-hook">hookContextCustomParams (JSON)</label>
        <textarea
          id="dry-hook"
          rows={2}
          class="mono"
          placeholder='{"name": ["value"]}'
          value={hookParams}
          onInput={(e) => setHookParams(e.currentTarget.value)}
        />
        <label for="dry-cache">CACHE seed (JSON object)</label>
        <textarea
          id="dry-cache"
          rows={2}
          class="mono"
          placeholder='{"key": "value"}'
          value={cache}
          onInput={(e) => setCache(e.currentTarget.value)}
        />
        <label for="dry-properties">Property overrides (JSON object of strings)</label>
        <textarea
          id="dry-properties"
          rows={2}
          class="mono"
          placeholder='{"property_id": "value for this run"}'
          value={overrides}
          onInput={(e) => setOverrides(e.currentTarget.value)}
        />
        <p class="hint">
          Other properties read the installation's values (see Properties); sensitive ones are masked in the
          report.
        </p>
        <button type="submit" disabled={busy}>
          {busy ? 'Running…' : 'Run draft'}
        </button>
      </form>
      <ErrorMessage error={error} />
      {report ? <Report report={report} /> : null}
    </aside>
  );
}
