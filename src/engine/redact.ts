/** What a masked secret is shown as. */
export const MASK = '********';

/** Values shorter than this are not masked: masking them would garble every log line. */
const MIN_SECRET_LENGTH = 4;

/**
 * Makes a function that replaces every occurrence of the given secrets (sensitive
 * property values) in a text with `********`. Scripts can put a secret into a log
 * line or an exception message; this keeps it out of the server log.
 */
export function createRedactor(secrets: Iterable<string>): (text: string) => string {
  const targets = [...new Set(secrets)]
    .filter((s) => s.length >= MIN_SECRET_LENGTH)
    .sort((a, b) => b.length - a.length);
  if (targets.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const secret of targets) if (out.includes(secret)) out = out.split(secret).join(MASK);
    return out;
  };
}
