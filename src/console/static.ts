import { readFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { RegistrarError } from '../errors.js';
import type { RouteDoc } from '../http/route-doc.js';
import { IMMUTABLE } from './headers.js';

/**
 * Where `npm run build` puts the console (`scripts/build-console.ts`): `dist/console` of
 * the checkout or install, found from this module in `src/console/` and in `dist/console/` alike.
 */
export const DEFAULT_CONSOLE_DIR = resolve(import.meta.dirname, '..', '..', 'dist', 'console');

/** The path prefix of the console's hashed assets. */
const ASSETS_PREFIX = '/console/assets/';

/** Content types of what the console build writes. */
const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/** A built file name: no folders, no dot files. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

const TAG = 'Console';
const PAGE_DOC: RouteDoc = {
  summary: 'The web console',
  description:
    'The console page (never cached). `503 console_not_built` when the console is on but `npm run build` has not built it.',
  tags: [TAG],
  auth: 'none',
  responses: {
    200: { description: 'The HTML page' },
    503: { description: '`console_not_built`: run `npm run build`' },
  },
};
const ASSET_DOC: RouteDoc = {
  summary: 'A console asset',
  description: `A bundle of the console, named by its content hash: \`Cache-Control: ${IMMUTABLE}\`.`,
  tags: [TAG],
  auth: 'none',
  responses: { 200: { description: 'The file' }, 404: { description: '`not_found`' } },
};

async function readIfThere(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Serves the built console from `dir`: `index.html` at `/console` and `/console/` (the
 * console routes by the URL's fragment, so no other page path exists), and its hashed
 * bundles under `/console/assets/`. Files are read per request, so a build made while
 * the server runs is served at once. The console's headers (CSP, nosniff, and the cache
 * policy: `no-store`, but immutable for assets) are set by `headers.ts`.
 */
export async function consoleStaticRoutes(app: FastifyInstance, options: { dir: string }): Promise<void> {
  const dir = resolve(options.dir);
  const page = async () => {
    const html = await readIfThere(join(dir, 'index.html'));
    if (html === undefined) {
      app.log.warn({ console_dir: dir }, 'the console is on but not built: run npm run build');
      throw new RegistrarError('console_not_built', undefined, { logged: true });
    }
    return html;
  };
  for (const url of ['/console', '/console/']) {
    app.get(url, { config: { doc: PAGE_DOC } }, async (_request, reply) =>
      reply.type('text/html; charset=utf-8').send(await page()),
    );
  }
  app.get<{ Params: { name: string } }>(
    `${ASSETS_PREFIX}:name`,
    { config: { doc: ASSET_DOC } },
    async (request, reply) => {
      const { name } = request.params;
      const type = CONTENT_TYPES[extname(name)];
      const file = type && ASSET_NAME.test(name) ? await readIfThere(join(dir, 'assets', name)) : undefined;
      if (file === undefined) throw new RegistrarError('not_found', `no console asset ${name}`);
      return reply.type(type as string).send(file);
    },
  );
}
