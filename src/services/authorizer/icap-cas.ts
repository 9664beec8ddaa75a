import type { FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import { errorResponses } from '../../schemas.js';
import { CA_READ_SCOPES, CaConfigOut, CaOut, CaParams, CrlQuery } from './ca-schemas.js';
import { componentCaConfig, listWebProxyCas, webProxyCa, webProxyCrl } from './use-cases.js';
import { caObject } from './web-proxy-ca.js';
import type { TypedApp } from '../typed-app.js';

/** `/icap/cas`: the web-proxy (ICAP) CAs, their CRLs and the CA config. */
export function registerIcapCaRoutes(app: TypedApp): void {
  const { database, clock } = app.context;
  const db = database.db;

  app.get(
    '/icap/cas/config',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: { summary: 'Which CA signs web-proxy and carrier certificates (the SDK’s ComponentCaConfig)', tags: ['icap'], response: { 200: CaConfigOut, ...errorResponses(401, 403) } },
    },
    async () => componentCaConfig(db, 'ICAP', clock.now()),
  );

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
