/** What a masked secret is shown as. */
export const MASK = '********';

/** Values shorter than this are not masked: masking them would garble every log line. */
const MIN_SECRET_LENGTH = 4;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Makes a function that replaces every occurrence of the given secrets (sensitive
 * property values) in a text with `********`, ignoring case. Scripts can put a secret
 * into a log line or an exception message; this keeps it out of the server log.
 *
 * Masking matches the secret's text only: a script that transforms a secret before
 * writing it (encodes, reverses, splits it) defeats it. It is a safety net for mistakes,
 * not a boundary against a script author (who can read the value with PROPERTIES.get).
 */
export function createRedactor(secrets: Iterable<string>): (text: string) => string {
  const targets = [...new Set(secrets)]
    .filter((s) => s.length >= MIN_SECRET_LENGTH)
    .sort((a, b) => b.length - a.length);
  if (targets.length === 0) return (text) => text;
  // Longest first, so a secret containing another is masked whole.
  const pattern = new RegExp(targets.map(escapeRegExp).join('|'), 'giu');
  return (text) => text.replace(pattern, MASK);
}
