import crypto from 'node:crypto';
import net from 'node:net';
import type { Kysely } from 'kysely';
import type { AppContext } from '../../context.js';
import type { Tables } from '../../db/schema.js';
import { forbidden, invalid, notFound, unauthorized, type PrivxError } from '../../errors.js';
import { signJwt } from '../../lib/jwt.js';
import { describeCertificate, InvalidCsrError, isValidDnsName, signCertificateSigningRequest } from '../../lib/pki.js';
import { keyedHash, safeEqual } from '../../lib/secrets.js';
import { resolveEffectiveServiceOptions } from '../../lib/service-options.js';
import { timestamp } from '../../lib/time.js';
import { WEB_SESSION_AUDIENCE, type WebSessionClaims } from '../../lib/web-policy.js';
import type { Principal, PrincipalType } from '../../access.js';
import { effectiveSettings } from '../settings/effective.js';
import type { LoginThrottle } from '../auth/throttle.js';
import type { TokenService } from '../auth/token-service.js';
import { bumpPolicyVersion } from '../host-store/policy-version-repository.js';
import { getDefaultServiceOptions, getHost } from '../host-store/repository.js';
import { trustedClientHolding } from '../local-user-store/use-cases.js';
import { addressInSubnets, effectiveSubnets, findTrustedClient, type TrustedClient } from '../local-user-store/trusted-client-repository.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { assertMayManage } from '../role-store/grant-rule.js';
import {
  completeRegistration,
  consumeConfSession,
  createConfSession,
  findCa,
  findWebSession,
  insertWebSession,
  issueRegistrationSecret,
  listCas,
  recordCertificate,
  registrationState,
  revokeWebProxyCertificates,
  revokeWebSession,
  type CaRow,
} from './repository.js';
import { caMaterial, caObject, crlFor, ensureComponentCa, ensureWebProxyCa, type ComponentCaType } from './web-proxy-ca.js';
import { carrierConfig, extenderConfig, renderComponentConfig } from './component-config.js';
import { renderWebProxyConfig, webProxyConfig } from './web-proxy-config.js';

/** How long the registration secret of a downloaded config stays usable. */
export const REGISTRATION_SECRET_TTL_SECONDS = 24 * 3600;
/** Validity of a web proxy's certificate; it re-registers (new config) to renew. */
const WEB_PROXY_CERTIFICATE_DAYS = 365;

/** What the web-proxy use cases need from the app. */
export interface UseCaseDeps {
  context: AppContext;
  /** Revokes a principal's tokens (a re-registered web proxy's old ones). */
  tokens: { revokePrincipal(type: PrincipalType, id: string): Promise<void> };
}

// ---------------------------------------------------------------------------------------------
// CAs

/** The CAs of one component type (`ICAP` for web proxies and carriers, `EXTENDER`); the first call makes the CA. */
export async function listComponentCas(db: Kysely<Tables>, type: ComponentCaType, now: Date): Promise<CaRow[]> {
  await ensureComponentCa(db, type, now);
  return listCas(db, type);
}

/** One CA of a component type; 404 when there is none with that id and type. */
export async function componentCa(db: Kysely<Tables>, type: ComponentCaType, id: string): Promise<CaRow> {
  const ca = await findCa(db, id, type);
  if (!ca) throw notFound('CA');
  return ca;
}

/** The CRL of a component CA (DER and PEM); 404 when the CA is unknown. */
export async function componentCrl(db: Kysely<Tables>, type: ComponentCaType, id: string, now: Date): Promise<{ der: Buffer; pem: string }> {
  return crlFor(db, await componentCa(db, type, id), now);
}

/** The SDK's ComponentCaConfig of a type: privgate keeps one CA per type, so it is both current and primary. */
export async function componentCaConfig(db: Kysely<Tables>, type: ComponentCaType, now: Date) {
  const ca = await ensureComponentCa(db, type, now);
  return { name: type.toLowerCase(), ca_id: ca.id, primary_ca_id: ca.id, updated: ca.created, updated_by: '' };
}

/** The trust anchor of a component type: its CA certificate and fingerprints (the SDK's TrustAnchor). */
export async function componentTrustAnchor(db: Kysely<Tables>, type: ComponentCaType, now: Date) {
  const ca = await ensureComponentCa(db, type, now);
  const { fingerprints } = caObject(ca);
  return { trust_anchor: ca.certificate_pem, trust_anchor_sha1: fingerprints.sha1, trust_anchor_sha256: fingerprints.sha256 };
}

/** The web-proxy CAs; the first call makes the CA. */
export async function listWebProxyCas(db: Kysely<Tables>, now: Date): Promise<CaRow[]> {
  return listComponentCas(db, 'ICAP', now);
}

/** One web-proxy CA; 404 when unknown. */
export async function webProxyCa(db: Kysely<Tables>, id: string): Promise<CaRow> {
  return componentCa(db, 'ICAP', id);
}

/** The CRL of a web-proxy CA (DER and PEM); 404 when the CA is unknown. */
export async function webProxyCrl(db: Kysely<Tables>, id: string, now: Date): Promise<{ der: Buffer; pem: string }> {
  return componentCrl(db, 'ICAP', id, now);
}

// ---------------------------------------------------------------------------------------------
// Config download sessions

/**
 * Which trusted-client types each config route serves. `carrier/conf` downloads also serve web
 * proxies: the PrivX Python SDK fetches the web-proxy config from there.
 */
export const CONFIG_ROUTES = {
  icap: { sessionTypes: ['ICAP'], downloadTypes: ['ICAP'], label: 'a web proxy (type ICAP)' },
  carrier: { sessionTypes: ['CARRIER'], downloadTypes: ['CARRIER', 'ICAP'], label: 'a carrier (type CARRIER)' },
  extender: { sessionTypes: ['EXTENDER'], downloadTypes: ['EXTENDER'], label: 'an extender (type EXTENDER)' },
} as const;
export type ConfigRoute = keyof typeof CONFIG_ROUTES;

/** The audit-event prefix of a client type's config events (`web_proxy_config_downloaded`, …). */
function auditPrefix(type: string): string {
  return type === 'ICAP' ? 'web_proxy' : type.toLowerCase();
}

/**
 * The trusted client of a conf route: 404 when unknown, 400 when the route does not serve its
 * type. A config download hands out the client's credentials (a fresh registration secret), so
 * the grant rule applies: the actor must hold everything the client holds (403 naming what it lacks).
 */
async function configClient(db: Kysely<Tables>, id: string, actor: Principal, types: readonly string[], label: string): Promise<TrustedClient> {
  const client = await findTrustedClient(db, id);
  if (!client) throw notFound('trusted client');
  if (!types.includes(client.type)) throw invalid('INVALID_REQUEST_DATA', `the trusted client is not ${label}`, 'trusted_client_id');
  assertMayManage(actor, `issuing the credentials of trusted client ${client.id}`, trustedClientHolding(client));
  return client;
}

/** Opens a single-use, short-lived session to download a component's config; audited in the same transaction. Returns its id. */
export async function openConfigSession(context: AppContext, actor: Principal, route: ConfigRoute, trustedClientId: string, sourceAddress: string): Promise<string> {
  const { database, clock, secretKey } = context;
  const db = database.db;
  const { sessionTypes, label } = CONFIG_ROUTES[route];
  const client = await configClient(db, trustedClientId, actor, sessionTypes, label);
  const { configSessionTtlSeconds } = await effectiveSettings(context).sessionLifetimes();
  const now = clock.now();
  return db.transaction().execute(async (trx) => {
    const sessionId = await createConfSession(trx, secretKey, client.id, now, configSessionTtlSeconds);
    await recordAuditEvent(trx, {
      type: `${auditPrefix(client.type)}_config_session_created`,
      outcome: 'success',
      principal: actor,
      sourceAddress,
      objectType: 'trusted-client',
      objectId: client.id,
      details: { name: client.name },
      at: now,
    });
    return sessionId;
  });
}

/** A downloaded config: the TOML text and what to call the file. */
export interface ConfigDownload {
  trustedClientId: string;
  fileName: string;
  toml: string;
}

/**
 * Consumes a config session and answers the component's config (TOML) with a fresh one-time
 * registration secret; audited, also when the session is unknown, expired or used (404).
 */
export async function downloadConfig(
  context: AppContext,
  actor: Principal,
  route: ConfigRoute,
  trustedClientId: string,
  sessionId: string,
  sourceAddress: string,
): Promise<ConfigDownload> {
  const { database, clock, secretKey, config } = context;
  const db = database.db;
  const { downloadTypes, label } = CONFIG_ROUTES[route];
  const client = await configClient(db, trustedClientId, actor, downloadTypes, label);
  const now = clock.now();
  const auditType = `${auditPrefix(client.type)}_config_downloaded`;
  // Make sure the CA exists before the transaction (it may have to be created).
  const ca = await ensureComponentCa(db, client.type === 'EXTENDER' ? 'EXTENDER' : 'ICAP', now);
  const secret = await db.transaction().execute(async (trx) => {
    if (!(await consumeConfSession(trx, secretKey, client.id, sessionId, now))) return undefined;
    const issued = await issueRegistrationSecret(trx, secretKey, client.id, now, REGISTRATION_SECRET_TTL_SECONDS);
    await recordAuditEvent(trx, { type: auditType, outcome: 'success', principal: actor, sourceAddress, objectType: 'trusted-client', objectId: client.id, details: { name: client.name }, at: now });
    return issued;
  });
  if (secret === undefined) {
    await recordAuditEvent(db, {
      type: auditType,
      outcome: 'failure',
      principal: actor,
      sourceAddress,
      objectType: 'trusted-client',
      objectId: client.id,
      details: { reason: 'unknown, expired or used config session' },
      at: now,
    });
    throw notFound('config session');
  }
  const secretExpires = timestamp(new Date(now.getTime() + REGISTRATION_SECRET_TTL_SECONDS * 1000));
  if (client.type === 'ICAP') {
    const document = webProxyConfig({
      publicUrl: config.publicUrl,
      controlPlaneCaPem: context.tlsCaPem,
      trustedClientId: client.id,
      registrationSecret: secret,
      registrationSecretExpires: secretExpires,
      webProxyCa: { id: ca.id, certificatePem: ca.certificate_pem },
      webProxyAddress: client.web_proxy_address,
      webProxyPort: client.web_proxy_port,
    });
    return { trustedClientId: client.id, fileName: `web-proxy-${client.id}-config.toml`, toml: renderWebProxyConfig(document) };
  }
  const input = {
    publicUrl: config.publicUrl,
    controlPlaneCaPem: context.tlsCaPem,
    client,
    registrationSecret: secret,
    registrationSecretExpires: secretExpires,
    ca: { id: ca.id, certificatePem: ca.certificate_pem, routePrefix: client.type === 'EXTENDER' ? ('extender' as const) : ('icap' as const) },
  };
  const document = client.type === 'EXTENDER' ? extenderConfig(input) : carrierConfig(input);
  return { trustedClientId: client.id, fileName: `${document.component}-${client.id}-config.toml`, toml: renderComponentConfig(document) };
}

// ---------------------------------------------------------------------------------------------
// Registration

export interface RegistrationRequest {
  trusted_client_id: string;
  secret: string;
  csr: string;
}

export interface Registration {
  trusted_client_id: string;
  oauth_client_id: string;
  oauth_client_secret: string;
  client_secret: string;
  certificate: string;
  ca_certificate: string;
}

/**
 * Registers a web proxy with the one-time secret of its downloaded config and a CSR: answers its
 * credentials and certificate, revokes its earlier certificates (and tokens, on a repeated
 * registration). Every refusal is 403 and counts towards the login throttle of `address`.
 */
export async function registerWebProxy(deps: UseCaseDeps, throttle: LoginThrottle, body: RegistrationRequest, address: string): Promise<Registration> {
  const { database, clock, secretKey } = deps.context;
  const db = database.db;
  const now = clock.now();
  const account = body.trusted_client_id.slice(0, 200);
  // The one-time secret is random and unguessable: failures count against the address only, so
  // knowing a client's id is not enough to lock its registration out.
  const attempt = await throttle.begin(address);
  const refuse = async (reason: string): Promise<PrivxError> => {
    await throttle.fail(attempt, 'web_proxy_registration', reason, account);
    return forbidden('web proxy registration refused');
  };

  const state = await registrationState(db, body.trusted_client_id);
  if (!state) throw await refuse('unknown trusted client');
  const secretHash = keyedHash(body.secret, secretKey);
  if (state.registrationSecretHash === null || !safeEqual(secretHash, state.registrationSecretHash)) throw await refuse('invalid or already used registration secret');
  if (state.registrationSecretExpires === null || state.registrationSecretExpires <= timestamp(now)) throw await refuse('registration secret expired');
  if (!state.enabled) throw await refuse('trusted client disabled');
  if (state.type !== 'ICAP') throw await refuse('trusted client is not a web proxy');
  if (state.registered && !state.allowRepeatedRegistration) throw await refuse('trusted client already registered');
  if (!addressInSubnets(address, effectiveSubnets(state.subnets))) throw await refuse('address outside the trusted client’s subnets');

  const ca = await ensureWebProxyCa(db, now);
  const proxyAddress = state.webProxyAddress;
  const sans = net.isIP(proxyAddress)
    ? { ipAddresses: [proxyAddress] }
    : proxyAddress && isValidDnsName(proxyAddress)
      ? { dnsNames: [proxyAddress] }
      : {};
  // Sign before consuming the secret: a bad CSR must not burn it.
  let signed: { certificatePem: string; serial: string };
  try {
    signed = await signCertificateSigningRequest({
      ca: caMaterial(ca),
      csrPem: body.csr,
      commonName: `web-proxy-${state.id}`.slice(0, 64),
      validityDays: WEB_PROXY_CERTIFICATE_DAYS,
      extendedKeyUsage: 'both',
      ...sans,
    });
  } catch (error) {
    if (error instanceof InvalidCsrError) {
      await throttle.abandon(attempt);
      throw invalid('INVALID_REQUEST_DATA', `csr: ${error.message}`, 'csr');
    }
    throw error;
  }
  const notAfter = describeCertificate(signed.certificatePem).notAfter;
  const certificate = { serial: signed.serial, caId: ca.id, trustedClientId: state.id, issued: now, notAfter };

  const outcome = await db.transaction().execute(async (trx) => {
    const credentials = await completeRegistration(trx, secretKey, state.id, secretHash, now);
    if (!credentials) return undefined;
    await recordCertificate(trx, certificate);
    const replaced = await revokeWebProxyCertificates(trx, state.id, now, signed.serial);
    await recordAuditEvent(trx, {
      type: 'web_proxy_registration',
      outcome: 'success',
      principal: { type: 'trusted-client', id: state.id, name: state.name },
      sourceAddress: address,
      objectType: 'trusted-client',
      objectId: state.id,
      details: { name: state.name, certificate_serial: signed.serial, revoked_certificates: replaced, repeated: state.registered },
      at: now,
    });
    return credentials;
  });
  if (!outcome) {
    // A concurrent registration consumed the secret first; this certificate must never count.
    await recordCertificate(db, { ...certificate, revoked: now });
    throw await refuse('registration secret already used');
  }
  await throttle.succeed(attempt);
  // Tokens of an earlier registration stop working with its credentials.
  if (state.registered) await deps.tokens.revokePrincipal('trusted-client', state.id);
  return {
    trusted_client_id: state.id,
    ...outcome,
    certificate: signed.certificatePem,
    ca_certificate: ca.certificate_pem,
  };
}

// ---------------------------------------------------------------------------------------------
// Web sessions

/** What the web-session use cases need from the app: signing keys and the revocation check. */
export interface WebSessionDeps {
  context: AppContext;
  tokens: Pick<TokenService, 'keys' | 'revokedSince'>;
}

/** A web session to open: a WEB host and one of its principals. */
export interface WebSessionRequest {
  host_id: string;
  principal: string;
}

/**
 * Opens a web session of `principal` to a WEB host as one of its principals: an ES256 token the
 * web proxies verify, the session row and its audit event (one transaction). 404 when the host is
 * no enabled WEB host or has no such principal.
 */
export async function openWebSession(
  deps: WebSessionDeps,
  principal: Principal,
  body: WebSessionRequest,
  sourceAddress: string,
): Promise<{ session_id: string; token: string; expires: string }> {
  const { database, clock } = deps.context;
  const db = database.db;
  const [host, defaults, lifetimes] = await Promise.all([getHost(db, body.host_id), getDefaultServiceOptions(db), effectiveSettings(deps.context).sessionLifetimes()]);
  const services = host.services.filter((service) => service.service === 'WEB');
  // A disabled host is not in the policy feed either; to a user it does not exist.
  if (services.length === 0 || String(host.disabled).toUpperCase() !== 'FALSE') throw notFound('web host', 'host_id');
  const account = host.principals.find((candidate) => candidate.principal === body.principal);
  if (!account) throw notFound('host principal', 'principal');
  const hostName = host.name || host.common_name || host.id;
  const now = clock.now();
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + lifetimes.webSessionTtlSeconds;
  const sessionId = crypto.randomUUID();
  const domains = new Set<string>();
  for (const service of services) for (const domain of service.allowed_domains ?? []) domains.add(domain);
  const claims: WebSessionClaims = {
    iss: 'privgate',
    aud: WEB_SESSION_AUDIENCE,
    sid: sessionId,
    sub: principal.id,
    name: principal.name,
    host_id: host.id,
    principal: account.principal,
    allowed_domains: [...domains],
    web: resolveEffectiveServiceOptions(defaults, account.service_options).options.web,
    iat,
    exp,
  };
  const token = await signJwt(claims as unknown as Record<string, unknown>, deps.tokens.keys.current);
  const expires = timestamp(new Date(exp * 1000));
  await db.transaction().execute(async (trx) => {
    // The token may have been revoked (logout, deletion, a role change) since the guard checked
    // it; a session opened now would escape that revocation's sweep.
    if (await deps.tokens.revokedSince(principal, trx)) throw unauthorized('invalid, expired or revoked access token', 'INVALID_TOKEN');
    await insertWebSession(trx, {
      id: sessionId,
      user_type: principal.type,
      user_id: principal.id,
      user_name: principal.name,
      host_id: host.id,
      principal: account.principal,
      created: timestamp(now),
      expires,
      revoked: null,
    });
    await recordAuditEvent(trx, {
      type: 'web_session_created',
      outcome: 'success',
      principal,
      sourceAddress,
      objectType: 'host',
      objectId: host.id,
      details: { web_session_id: sessionId, host_name: hostName, principal: account.principal, expires },
      at: now,
    });
  });
  return { session_id: sessionId, token, expires };
}

/**
 * Revokes a web session: its own user or an admin may (403 otherwise, 404 when unknown). The
 * policy version is bumped with the audit event, so web proxies learn it from the feed.
 */
export async function revokeWebSessionAs(deps: Pick<WebSessionDeps, 'context'>, principal: Principal, sessionId: string, sourceAddress: string): Promise<void> {
  const { database, clock } = deps.context;
  const db = database.db;
  const session = await findWebSession(db, sessionId);
  if (!session) throw notFound('web session');
  const own = session.user_type === principal.type && session.user_id === principal.id;
  if (!own && !principal.admin) throw forbidden('only the session’s user or an admin may revoke it');
  const now = clock.now();
  await db.transaction().execute(async (trx) => {
    if (!(await revokeWebSession(trx, sessionId, now))) return;
    await bumpPolicyVersion(trx);
    await recordAuditEvent(trx, {
      type: 'web_session_revoked',
      outcome: 'success',
      principal,
      sourceAddress,
      objectType: 'web-session',
      objectId: sessionId,
      details: { host_id: session.host_id, principal: session.principal, user_id: session.user_id },
      at: now,
    });
  });
}
