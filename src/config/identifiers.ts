import { z } from 'zod';

/** The longest client identifier, in UTF-8 bytes (a storage key and a `Location` path segment). */
export const MAX_IDENTIFIER_BYTES = 255;

/**
 * Printable: letters, marks, digits, punctuation, symbols and the ASCII space. This
 * leaves out control characters (C0, DEL, C1), format characters (bidi overrides,
 * zero-width spaces), line and paragraph separators, other spaces, private-use and
 * unassigned code points, and lone surrogates.
 */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]+$/u;

/**
 * Why `value` is not a valid client identifier, or null when it is: well-formed
 * Unicode (no lone surrogates), 1-255 UTF-8 bytes, printable characters only, no
 * space at either end. The ids of API clients and applications follow this rule
 * wherever they are accepted (config file, admin API, command line); IdP and property
 * ids have narrower ASCII sets of their own.
 */
export function identifierProblem(value: string): string | null {
  if (!value.isWellFormed()) return 'must be well-formed Unicode (it has a lone surrogate)';
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes < 1 || bytes > MAX_IDENTIFIER_BYTES) {
    return `must be 1-${MAX_IDENTIFIER_BYTES} bytes of UTF-8 (it has ${bytes})`;
  }
  if (!PRINTABLE.test(value)) {
    return 'must be printable: letters, marks, digits, punctuation, symbols and spaces; no control, format or separator characters';
  }
  if (value.startsWith(' ') || value.endsWith(' ')) return 'must not start or end with a space';
  return null;
}

/** The `client_id` of an API client or an application (see `identifierProblem`). */
export const clientIdentifier = z
  .string()
  // Bounds in characters for the OpenAPI document (255 bytes are never more than 255
  // UTF-16 units); the exact rule follows. `abort`: one problem per field.
  .min(1, { abort: true })
  .max(MAX_IDENTIFIER_BYTES, { abort: true })
  .superRefine((value, ctx) => {
    const problem = identifierProblem(value);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  });
