import { RegistrarError } from '../errors.js';
import type { ApplicationRecord, ConfigStore, IdentityProviderRecord } from '../storage/types.js';
import { findEnabledIdentityProvider } from './identity-provider.js';

/** The JSON body of init/complete as an object (absent body = `{}`); anything else is `invalid_request`. */
export function bodyObject(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new RegistrarError('invalid_request', 'the body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/** An optional string member: absent → null; present and not a string → `invalid_request`. */
export function optionalString(body: Record<string, unknown>, name: string): string | null {
  const value = body[name];
  if (value === undefined) return null;
  if (typeof value !== 'string') throw new RegistrarError('invalid_request', `${name} must be a string`);
  return value;
}

/**
 * The IdP in the path, enabled, and assigned to the application: an IdP the
 * application may not use answers `idp_disabled`, as the reference product does.
 */
export async function findIdentityProviderFor(
  store: ConfigStore,
  idpId: string,
  application: ApplicationRecord,
): Promise<IdentityProviderRecord> {
  const idp = await findEnabledIdentityProvider(store, idpId);
  if (!application.identity_providers.includes(idp.id)) {
    throw new RegistrarError(
      'idp_disabled',
      'the application may not register through this identity provider',
    );
  }
  return idp;
}
