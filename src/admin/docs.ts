import { z } from 'zod';
import { RegistrarError } from '../errors.js';
import type { ResponseDoc, RouteDoc } from '../http/route-doc.js';

/** `{id}` in an admin path. */
export const ID_PARAMS = z.object({ id: z.string().describe('The resource id') });

/** `not_found` naming what is missing. */
export const notFound = (what: string, id: string) => new RegistrarError('not_found', `no ${what} ${id}`);

interface AdminDocOptions {
  summary: string;
  description?: string;
  tags: string[];
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** The 200 body. */
  ok?: z.ZodType;
  /** The 201 body (with `Location`). */
  created?: z.ZodType;
  /** Answers 204. */
  noContent?: boolean;
  /** More documented answers (e.g. 422 `script_tests_failed`). */
  more?: Record<number, ResponseDoc>;
}

/**
 * The route options of an admin route: its OpenAPI doc, which also declares the
 * `admin` scope the admin plugin enforces (a route without it is refused), for Basic
 * credentials or a console session.
 */
export function adminDoc(options: AdminDocOptions): { config: { doc: RouteDoc } } {
  const responses: Record<number, ResponseDoc> = {};
  if (options.ok) responses[200] = { description: 'OK', schema: options.ok };
  if (options.created) {
    responses[201] = {
      description: 'Created',
      schema: options.created,
      headers: { Location: 'The URL of the new resource' },
    };
  }
  if (options.noContent) responses[204] = { description: 'Done; no body' };
  responses[400] = {
    description:
      '`invalid_request` (with `details` naming each bad field) or `invalid_client` (missing or wrong credentials)',
  };
  responses[403] = {
    description:
      '`insufficient_permissions`: the client lacks scope `admin`; `invalid_csrf_token`: a change made with the console session cookie lacks its `X-CSRF-Token`',
  };
  responses[404] = { description: '`not_found`' };
  if (options.body || options.noContent) responses[409] = { description: '`conflict`' };
  Object.assign(responses, options.more);
  const doc: RouteDoc = {
    summary: options.summary,
    tags: options.tags,
    auth: { apiClient: 'admin', consoleSession: true },
    responses,
  };
  if (options.description) doc.description = options.description;
  if (options.params) doc.params = options.params;
  if (options.query) doc.query = options.query;
  if (options.body) doc.body = { 'application/json': options.body };
  return { config: { doc } };
}
