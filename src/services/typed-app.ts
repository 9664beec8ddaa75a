import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

/**
 * The instance a service plugin (`FastifyPluginAsyncTypebox`) is handed: a route's `request.body`,
 * `request.params`, `request.query` and `request.headers` are typed from its TypeBox schema, so
 * route files declare the schema and never cast the request parts.
 */
export type TypedApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;
