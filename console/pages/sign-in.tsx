/** The sign-in page: the client id and secret of an API client with scope admin. */
import { useState } from 'preact/hooks';
import { signIn } from '../api';
import { ErrorMessage } from '../components/errors';
import { useAction } from '../components/hooks';

export function SignIn({ reason, onSignedIn }: { reason: string | null; onSignedIn: () => void }) {
  const [clientId, setClientId] = useState('');
  const [secret, setSecret] = useState('');
  const action = useAction();
  const submit = async (event: Event) => {
    event.preventDefault();
    const done = await action.run(async () => {
      await signIn(clientId, secret);
      return true;
    });
    if (done) {
      setSecret('');
      onSignedIn();
    }
  };
  return (
    <main class="sign-in" id="main">
      <h1>Registrar console</h1>
      <p>
        Sign in with the client id and secret of an API client that holds scope <code>admin</code>.
      </p>
      {reason ? (
        <p class="notice" role="status">
          {reason}
        </p>
      ) : null}
      <form onSubmit={submit}>
        <label for="sign-in-client">Client id</label>
        <input
          id="sign-in-client"
          name="client_id"
          autoComplete="username"
          required
          value={clientId}
          onInput={(e) => setClientId(e.currentTarget.value)}
        />
        <label for="sign-in-secret">Client secret</label>
        <input
          id="sign-in-secret"
          name="client_secret"
          type="password"
          autoComplete="current-password"
          required
          value={secret}
          onInput={(e) => setSecret(e.currentTarget.value)}
        />
        <ErrorMessage error={action.error} />
        <button type="submit" disabled={action.busy}>
          {action.busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
