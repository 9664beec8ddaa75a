import type { FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import { errorResponses, IdParam } from '../../schemas.js';
import type { Scope } from '../../access.js';
import { listWebProxyCas, webProxyCa, webProxyCrl } from './use-cases.js';
import { caObject } from './web-proxy-ca.js';
import type { TypedApp } from '../typed-app.js';

const CA_READ_SCOPES: readonly Scope[] = ['admin', 'certificates-view', 'api-clients-manage', 'service'];

const CaOut = Type.Object({
  id: Type.String(),
  group_id: Type.String(),
  type: Type.String(),
  size: Type.Integer(),
  public_key: Type.String(),
  public_key_string: Type.String(),
  x509_certificate: Type.String(),
  subject: Type.String(),
  issuer: Type.String(),
  serial: Type.String(),
  not_before: Type.String(),
  not_after: Type.String(),
  fingerprints: Type.Object({ sha1: Type.String(), sha256: Type.String() }),
});
const CaParams = Type.Object({ id: IdParam });
const CrlQuery = Type.Object({ format: Type.Optional(Type.Union([Type.Literal('der'), Type.Literal('pem')])) });

/** `/icap/cas`: the web-proxy (ICAP) CAs and their CRLs. */
export function registerIcapCaRoutes(app: TypedApp): void {
  const { database, clock } = app.context;
  const db = database.db;

  app.get(
    '/icap/cas',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: { summary: 'The web-proxy CAs (a bare array)', tags: ['icap'], response: { 200: Type.Array(CaOut), ...errorResponses(401, 403) } },
    },
    async () => (await listWebProxyCas(db, clock.now())).map(caObject),
  );

  app.get(
    '/icap/cas/:id',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: { summary: 'One web-proxy CA', tags: ['icap'], params: CaParams, response: { 200: CaOut, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => caObject(await webProxyCa(db, request.params.id)),
  );

  app.get(
    '/icap/cas/:id/crl',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: {
        summary: 'The CA’s certificate revocation list: DER (application/pkix-crl), or PEM with ?format=pem',
        tags: ['icap'],
        params: CaParams,
        querystring: CrlQuery,
        response: { 200: Type.String({ description: 'CRL, DER or PEM' }), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const crl = await webProxyCrl(db, request.params.id, clock.now());
      if (request.query.format === 'pem') return reply.type('application/x-pem-file').send(crl.pem);
      // DER bytes, sent as they are (the schema's string documents the body, it does not serialise it).
      const plain: FastifyReply = reply;
      return plain.type('application/pkix-crl').send(crl.der);
    },
  );
}
