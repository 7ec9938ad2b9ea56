import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { propertyAad, readProperties } from '../config/apply.js';
import { propertyId, propertyValue } from '../config/schema.js';
import { RegistrarError } from '../errors.js';
import { sendJson } from '../http/errors.js';
import { seal, unseal } from '../security/sealed-box.js';
import type { PropertyRecord } from '../storage/types.js';
import { auditChange } from './change-audit.js';
import { type AdminDeps, locationOf } from './deps.js';
import { adminDoc, ID_PARAMS, notFound } from './docs.js';
import { invalidFields, pageQuery, pageSchema, parseOrReject } from './validation.js';

/** What a sensitive value reads as. */
export const MASK = '********';

const createBody = z.strictObject({
  id: propertyId,
  value: propertyValue,
  sensitive: z.boolean().default(false),
});
const replaceBody = z.strictObject({
  id: propertyId.optional(),
  value: propertyValue,
  sensitive: z.boolean().default(false),
});
const patchBody = z.strictObject({ value: propertyValue.optional(), sensitive: z.boolean().optional() });

/** A property as the admin API shows it: a sensitive value is `********`. */
export const propertyView = z.object({ id: z.string(), value: z.string(), sensitive: z.boolean() });
const view = ({ id, value, sensitive }: PropertyRecord) => ({
  id,
  value: sensitive ? MASK : value,
  sensitive,
});

const TAG = 'Admin: properties';

/**
 * `/api/v1/configuration/properties`: values scripts read with PROPERTIES.get.
 * Sensitive values are sealed at rest and never returned; every change reaches the
 * scripts from their next execution on.
 */
export async function propertyRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const { store, secretKey } = deps;
  const load = async (id: string) => {
    const property = await store.getProperty(id);
    if (!property) throw notFound('property', id);
    return property;
  };
  /** The record to store for a clear-text value. */
  const stored = (id: string, value: string, sensitive: boolean): PropertyRecord => ({
    id,
    sensitive,
    value: sensitive ? seal(secretKey, value, propertyAad(id)) : value,
  });
  const clearValue = (property: PropertyRecord) =>
    property.sensitive ? unseal(secretKey, property.value, propertyAad(property.id)) : property.value;
  /** Hands the scripts the new values (this node; other nodes see them through storage). */
  const publish = async () => deps.engine.setProperties(await readProperties(store, secretKey));
  /** Stores the changed property, hands it to the scripts, audits it, returns its view. */
  const save = async (
    request: FastifyRequest,
    action: 'replace' | 'update',
    before: PropertyRecord,
    value: string,
    sensitive: boolean,
  ) => {
    const after = stored(before.id, value, sensitive);
    await store.upsertProperty(after);
    await publish();
    auditChange(request, {
      resource: 'property',
      id: before.id,
      action,
      before: view(before),
      after: view(after),
    });
    return view(after);
  };

  app.get(
    '/properties',
    adminDoc({ summary: 'List properties', tags: [TAG], query: pageQuery, ok: pageSchema(propertyView) }),
    async (request, reply) => {
      const { limit, cursor } = parseOrReject(pageQuery, request.query, 'the query');
      const page = await store.pageProperties({ limit, ...(cursor ? { after: cursor } : {}) });
      return sendJson(reply, { items: page.items.map(view), next_cursor: page.next });
    },
  );

  app.post(
    '/properties',
    adminDoc({ summary: 'Create a property', tags: [TAG], body: createBody, created: propertyView }),
    async (request, reply) => {
      const body = parseOrReject(createBody, request.body);
      const record = stored(body.id, body.value, body.sensitive);
      if (!(await store.createProperty(record))) {
        throw new RegistrarError('conflict', `a property ${body.id} exists already`);
      }
      await publish();
      auditChange(request, {
        resource: 'property',
        id: body.id,
        action: 'create',
        before: null,
        after: view(record),
      });
      reply.header('location', locationOf('properties', body.id));
      return sendJson(reply, view(record), 201);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/properties/:id',
    adminDoc({ summary: 'Read a property', tags: [TAG], params: ID_PARAMS, ok: propertyView }),
    async (request, reply) => sendJson(reply, view(await load(request.params.id))),
  );

  app.put<{ Params: { id: string } }>(
    '/properties/:id',
    adminDoc({
      summary: 'Replace a property',
      tags: [TAG],
      params: ID_PARAMS,
      body: replaceBody,
      ok: propertyView,
    }),
    async (request, reply) => {
      const body = parseOrReject(replaceBody, request.body);
      if (body.id !== undefined && body.id !== request.params.id) {
        throw invalidFields('the body is invalid', [
          { field: 'id', message: 'must equal the id in the path' },
        ]);
      }
      const before = await load(request.params.id);
      return sendJson(reply, await save(request, 'replace', before, body.value, body.sensitive));
    },
  );

  app.patch<{ Params: { id: string } }>(
    '/properties/:id',
    adminDoc({
      summary: 'Change a property’s value or sensitivity',
      description:
        'Making a property sensitive seals its current value. Making a sensitive property plain needs a new `value` in the same request: the sealed value is never revealed.',
      tags: [TAG],
      params: ID_PARAMS,
      body: patchBody,
      ok: propertyView,
    }),
    async (request, reply) => {
      const body = parseOrReject(patchBody, request.body);
      const before = await load(request.params.id);
      const sensitive = body.sensitive ?? before.sensitive;
      if (before.sensitive && !sensitive && body.value === undefined) {
        // Unsealing the stored value would reveal it to this API and the audit log.
        throw invalidFields('the body is invalid', [
          { field: 'value', message: 'required when a sensitive property becomes non-sensitive' },
        ]);
      }
      const value = body.value ?? clearValue(before);
      return sendJson(reply, await save(request, 'update', before, value, sensitive));
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/properties/:id',
    adminDoc({ summary: 'Delete a property', tags: [TAG], params: ID_PARAMS, noContent: true }),
    async (request, reply) => {
      const before = await load(request.params.id);
      if (!(await store.deleteProperty(before.id))) throw notFound('property', before.id);
      await publish();
      auditChange(request, {
        resource: 'property',
        id: before.id,
        action: 'delete',
        before: view(before),
        after: null,
      });
      return reply.code(204).send();
    },
  );
}
