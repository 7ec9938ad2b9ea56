import { z } from 'zod';
import { type FieldProblem, RegistrarError } from '../errors.js';

/** Parses a request part with `schema`; `invalid_request` naming each bad field otherwise. */
export function parseOrReject<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what = 'the body',
): z.output<S> {
  const parsed = schema.safeParse(value ?? undefined);
  if (parsed.success) return parsed.data;
  throw invalidFields(`${what} is invalid`, parsed.error.issues.flatMap(toProblems));
}

/** `invalid_request` with `details`. */
export function invalidFields(description: string, details: FieldProblem[]): RegistrarError {
  return new RegistrarError('invalid_request', `${description}: ${details.map(describe).join('; ')}`, {
    details,
  });
}

const describe = (p: FieldProblem) => `${p.field || '(body)'}: ${p.message}`;

function toProblems(issue: z.core.$ZodIssue): FieldProblem[] {
  const field = fieldPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ field: field ? `${field}.${key}` : key, message: 'unknown field' }));
  }
  return [{ field, message: issue.message }];
}

/** `scripts.complete`, `scopes[1]`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`))
    .join('');
}

/** `?limit=&cursor=` of every list. */
export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** The `next_cursor` of the previous page. */
  cursor: z.string().min(1).max(1024).optional(),
});

/** The `cursor` of a list paged by numeric id: the `next_cursor` of the previous page. */
export const idCursor = z
  .string()
  .regex(/^[1-9][0-9]{0,14}$/, 'must be the next_cursor of a previous page')
  .optional()
  .describe('The `next_cursor` of the previous page');

/** A page as answered: the items and the cursor of the next page (null on the last). */
export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), next_cursor: z.string().nullable() });
}
