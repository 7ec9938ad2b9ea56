/** How the console shows what went wrong: the API's `error_description` and each `details` entry. */
import { ApiError } from '../api';

/** A readable text of any error. */
export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.description || error.code;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** An error box (announced to screen readers); nothing when `error` is null. */
export function ErrorMessage({ error }: { error: unknown }) {
  if (error === null || error === undefined) return null;
  const details = error instanceof ApiError ? error.details : [];
  const code = error instanceof ApiError ? error.code : undefined;
  return (
    <div class="error" role="alert">
      <p>
        {code ? <strong>{code}: </strong> : null}
        {errorText(error)}
      </p>
      {details.length > 0 ? (
        <ul>
          {details.map((detail) => (
            <li key={`${detail.field}:${detail.message}`}>
              <code>{detail.field || '(body)'}</code>
              {detail.line ? ` (line ${detail.line}${detail.column ? `, column ${detail.column}` : ''})` : ''}
              : {detail.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** A short confirmation (announced politely); nothing when empty. */
export function Notice({ text }: { text: string | null }) {
  return (
    <p class="notice" role="status" aria-live="polite">
      {text ?? ''}
    </p>
  );
}
