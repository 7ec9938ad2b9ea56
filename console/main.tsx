/** The console's entry: checks for a session, then shows the sign-in page or the console. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { currentSession, type SessionInfo, whenSignedOut } from './api';
import { ConsoleApp } from './app';
import { ErrorMessage } from './components/errors';
import { SignIn } from './pages/sign-in';
import './styles.css';

type State =
  | { kind: 'loading' }
  | { kind: 'signed-out'; reason: string | null }
  | { kind: 'in'; session: SessionInfo };

function Root() {
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [error, setError] = useState<unknown>(null);
  const refresh = async () => {
    try {
      const session = await currentSession();
      setState(session ? { kind: 'in', session } : { kind: 'signed-out', reason: null });
    } catch (reason) {
      setError(reason);
    }
  };
  useEffect(() => {
    whenSignedOut(() =>
      setState({
        kind: 'signed-out',
        reason: 'Your session has ended (signed out, expired or revoked). Sign in again.',
      }),
    );
    void refresh();
  }, []);
  if (error) return <ErrorMessage error={error} />;
  if (state.kind === 'loading') return <p class="loading">Loading…</p>;
  if (state.kind === 'signed-out') return <SignIn reason={state.reason} onSignedIn={refresh} />;
  return (
    <ConsoleApp
      session={state.session}
      onSignedOut={() => setState({ kind: 'signed-out', reason: 'Signed out.' })}
    />
  );
}

const app = document.getElementById('app');
if (app) render(<Root />, app);
