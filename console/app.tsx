/** The signed-in console: the header, the navigation and the page of the current route. */
import { useState } from 'preact/hooks';
import { type SessionInfo, signOut } from './api';
import { ErrorMessage } from './components/errors';
import { ApiClientsPage } from './pages/api-clients';
import { ApplicationsPage } from './pages/applications';
import { AuditPage } from './pages/audit';
import { IdpPage } from './pages/idp';
import { IdpListPage } from './pages/idp-list';
import { PropertiesPage } from './pages/properties';
import { ScriptPage } from './pages/script';
import { VersionsPage } from './pages/versions';
import { href, type Route, useRoute } from './router';

const SECTIONS = [
  { path: 'identity-providers', title: 'Identity providers' },
  { path: 'properties', title: 'Properties' },
  { path: 'api-clients', title: 'API clients' },
  { path: 'applications', title: 'Applications' },
  { path: 'audit', title: 'Audit' },
] as const;

function page(route: Route) {
  const [section = 'identity-providers', id, sub, kind, extra] = route;
  switch (section) {
    case 'identity-providers':
      if (id === undefined) return <IdpListPage />;
      if (sub === 'scripts' && kind !== undefined) {
        return extra === 'versions' ? (
          <VersionsPage idpId={id} kind={kind} />
        ) : (
          <ScriptPage idpId={id} kind={kind} />
        );
      }
      return <IdpPage idpId={id} />;
    case 'properties':
      return <PropertiesPage />;
    case 'api-clients':
      return <ApiClientsPage />;
    case 'applications':
      return <ApplicationsPage />;
    case 'audit':
      return <AuditPage />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            No page here. Go to the <a href={href('identity-providers')}>identity providers</a>.
          </p>
        </section>
      );
  }
}

export function ConsoleApp({ session, onSignedOut }: { session: SessionInfo; onSignedOut: () => void }) {
  const route = useRoute();
  const [error, setError] = useState<unknown>(null);
  const current = route[0] ?? 'identity-providers';
  const out = async () => {
    try {
      await signOut();
      onSignedOut();
    } catch (reason) {
      setError(reason);
    }
  };
  return (
    <div class="shell">
      <button type="button" class="skip" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <span class="brand">Registrar console</span>
        <span class="who">
          Signed in as <strong data-testid="signed-in-as">{session.client_id}</strong>
        </span>
        <button type="button" class="secondary" onClick={out}>
          Sign out
        </button>
      </header>
      <nav class="side" aria-label="Sections">
        <ul>
          {SECTIONS.map((s) => (
            <li key={s.path}>
              <a href={href(s.path)} aria-current={current === s.path ? 'page' : undefined}>
                {s.title}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <ErrorMessage error={error} />
        {page(route)}
      </main>
    </div>
  );
}
