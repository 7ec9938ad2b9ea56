import { RegistrarError } from '../errors.js';
import type { ConfigStore, IdentityProviderRecord } from '../storage/types.js';

/** The IdP named in the path: `invalid_idp_identifier` when there is none, `idp_disabled` when it is off. */
export async function findEnabledIdentityProvider(
  store: ConfigStore,
  id: string,
): Promise<IdentityProviderRecord> {
  const idp = await store.getIdentityProvider(id);
  if (!idp) throw new RegistrarError('invalid_idp_identifier');
  if (!idp.enabled) throw new RegistrarError('idp_disabled');
  return idp;
}
