import type { FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import { errorResponses } from '../../schemas.js';
import { CA_READ_SCOPES, CaConfigOut, CaOut, CaParams, CrlQuery, TrustAnchorOut } from './ca-schemas.js';
import { componentCa, componentCaConfig, componentCrl, componentTrustAnchor, listComponentCas } from './use-cases.js';
import { caObject } from './web-proxy-ca.js';
import type { TypedApp } from '../typed-app.js';

/** `/extender/cas` and `/extender-trust-anchor`: the extender CA, its CRL and its config. */
export function registerExtenderCaRoutes(app: TypedApp): void {
  const { database, clock } = app.context;
  const db = database.db;

  app.get(
    '/extender/cas',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: { summary: 'The extender CAs (a bare array)', tags: ['extender'], response: { 200: Type.Array(CaOut), ...errorResponses(401, 403) } },
    },
    async () => (await listComponentCas(db, 'EXTENDER', clock.now())).map(caObject),
  );

  app.get(
    '/extender/cas/config',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: { summary: 'Which CA signs extender certificates (the SDK’s ComponentCaConfig)', tags: ['extender'], response: { 200: CaConfigOut, ...errorResponses(401, 403) } },
    },
    async () => componentCaConfig(db, 'EXTENDER', clock.now()),
  );

  app.get(
    '/extender/cas/:id',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: { summary: 'One extender CA', tags: ['extender'], params: CaParams, response: { 200: CaOut, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => caObject(await componentCa(db, 'EXTENDER', request.params.id)),
  );

  app.get(
    '/extender/cas/:id/crl',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: {
        summary: 'The extender CA’s certificate revocation list: DER (application/pkix-crl), or PEM with ?format=pem',
        tags: ['extender'],
        params: CaParams,
        querystring: CrlQuery,
        response: { 200: Type.String({ description: 'CRL, DER or PEM' }), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const crl = await componentCrl(db, 'EXTENDER', request.params.id, clock.now());
      if (request.query.format === 'pem') return reply.type('application/x-pem-file').send(crl.pem);
      // DER bytes, sent as they are (the schema's string documents the body, it does not serialise it).
      const plain: FastifyReply = reply;
      return plain.type('application/pkix-crl').send(crl.der);
    },
  );

  app.get(
    '/extender-trust-anchor',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: { summary: 'The extender trust anchor: the extender CA certificate (PEM) and its fingerprints', tags: ['extender'], response: { 200: TrustAnchorOut, ...errorResponses(401, 403) } },
    },
    async () => componentTrustAnchor(db, 'EXTENDER', clock.now()),
  );
}
