/** A new client secret, shown once with a copy button, and the generator of such secrets. */
import { useState } from 'preact/hooks';

/** A random secret: 32 bytes, base64url (256 bits). */
export function generateSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

/** Shows a secret once: the console keeps no copy, and the server returns none. */
export function SecretOnce({
  clientId,
  secret,
  onDone,
}: {
  clientId: string;
  secret: string;
  onDone: () => void;
}) {
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied('Copied to the clipboard.');
    } catch {
      setCopied('Copying failed: select the secret and copy it by hand.');
    }
  };
  return (
    <section class="secret-once" aria-labelledby="secret-once-title">
      <h3 id="secret-once-title">New secret of {clientId}</h3>
      <p>
        This is the only time the secret is shown. Store it now: neither the server nor the console keeps it.
      </p>
      <div class="row">
        <input
          class="mono grow"
          readOnly
          value={secret}
          aria-label={`Secret of ${clientId}`}
          data-testid="new-secret"
        />
        <button type="button" onClick={copy}>
          Copy
        </button>
        <button type="button" class="secondary" onClick={onDone}>
          Done
        </button>
      </div>
      <p role="status" aria-live="polite">
        {copied ?? ''}
      </p>
    </section>
  );
}
