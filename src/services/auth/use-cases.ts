import type { AppContext } from '../../context.js';
import { bumpPolicyVersion } from '../host-store/policy-version.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { inTransaction } from '../role-store/use-cases.js';
import type { Principal } from './principal.js';
import type { TokenService } from './token-service.js';

/**
 * Logout ends everything the caller holds, not only the presented token: every access and refresh
 * token of the principal issued until now (on every node) and every web session it opened (web
 * proxies drop them through the policy feed). One transaction with its audit event.
 */
export async function logout(context: AppContext, tokens: TokenService, principal: Principal, sourceAddress: string): Promise<void> {
  await inTransaction({ db: context.database.db, tokens }, async (trx) => {
    await tokens.revokePrincipal(principal.type, principal.id, trx);
    await recordAuditEvent(trx, { type: 'logout', outcome: 'success', principal, sourceAddress, at: context.clock.now() });
  });
}

/**
 * Starts a new token-signing key and answers its kid. Web proxies verify web-session tokens with
 * the keys in the policy feed, so the policy version is bumped, with the audit event, once the
 * key is stored (the key store writes it on its own).
 */
export async function rotateSigningKey(context: AppContext, tokens: TokenService, actor: Principal): Promise<string> {
  const now = context.clock.now();
  const kid = await tokens.keys.rotate(now);
  await context.database.db.transaction().execute(async (trx) => {
    await bumpPolicyVersion(trx);
    await recordAuditEvent(trx, { type: 'signing_key_rotated', outcome: 'success', principal: actor, objectType: 'signing_key', objectId: kid, at: now });
  });
  return kid;
}
