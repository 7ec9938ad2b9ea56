import type { z } from 'zod';

/** How a route authenticates its caller, for the OpenAPI `security` of the route. */
export type RouteAuth =
  /**
   * An API client (Basic or form credentials) holding this scope; with `consoleSession`,
   * a console session cookie of such a client instead (the admin API).
   */
  | { apiClient: 'user_registration' | 'admin' | 'token_introspection'; consoleSession?: true }
  /** An application's (OAuth client's) credentials. */
  | { application: true }
  /** Only a console session cookie (the console's own API). */
  | { consoleSession: true }
  /** Public. */
  | 'none';

/** One documented response. `schema` describes a JSON body; the error shape is added by the builder for 4xx/5xx. */
export interface ResponseDoc {
  description: string;
  schema?: z.ZodType;
  /** Response headers worth naming (e.g. `Location`). */
  headers?: Record<string, string>;
}

/**
 * What a route tells the OpenAPI document about itself. Routes attach it as
 * `config: { doc }` when they are declared, and `src/http/openapi.ts` collects every
 * route's doc through Fastify's `onRoute` hook, so the document describes the routes
 * that exist and no others. A route without a doc is left out of the document.
 */
export interface RouteDoc {
  summary: string;
  description?: string;
  /** Grouping in the document and the `/docs` page, e.g. `Backchannel`, `Admin: API clients`. */
  tags: string[];
  auth: RouteAuth;
  /** Path parameters (`:idp` in the Fastify path becomes `{idp}`). */
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** Request bodies by media type, e.g. `{ 'application/json': schema }`. */
  body?: Record<string, z.ZodType>;
  /** Documented responses by HTTP status. */
  responses: Record<number, ResponseDoc>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    doc?: RouteDoc;
  }
}
