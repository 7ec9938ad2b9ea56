/** Turns an API error into editor problems: compile errors carry `line` (and `column`) in `details`. */
import { ApiError } from '../api';
import type { EditorProblem } from './script-editor';

/** The editor problems an error answer carries; none for other errors. */
export function problemsOf(error: unknown): EditorProblem[] {
  if (!(error instanceof ApiError)) return [];
  return error.details
    .filter((detail) => typeof detail.line === 'number')
    .map((detail) => ({ line: detail.line as number, column: detail.column, message: detail.message }));
}
