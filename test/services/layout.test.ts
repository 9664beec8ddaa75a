import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layout the architecture asks for, for the services that follow it so far: a reader finds an
 * endpoint by its URL (one route file per resource, index.ts only registers them), route files and
 * use cases hold no SQL, and repositories record no audit events (the use case does, in its
 * transaction). monitor-service and authorizer join the table when their routes move.
 */

const SERVICES = path.resolve(__dirname, '../../src/services');

/** Per service: which file declares which route (method and path as written, below the service's prefix). */
const ROUTE_FILES: Record<string, Record<string, string[]>> = {
  'role-store': {
    'permissions.ts': ['GET /permissions'],
    'roles.ts': ['GET /roles', 'POST /roles', 'POST /roles/resolve', 'POST /roles/search', 'POST /roles/evaluate', 'GET /roles/:id', 'PUT /roles/:id', 'DELETE /roles/:id'],
    'members.ts': ['GET /roles/:id/members', 'POST /roles/:id/members', 'DELETE /roles/:id/members/:memberId'],
    'users.ts': ['POST /users/search', 'GET /users/:id', 'GET /users/:id/resolve', 'GET /users/:id/roles', 'PUT /users/:id/roles'],
    'principal-keys.ts': [
      'GET /roles/:id/principalkeys',
      'POST /roles/:id/principalkeys/generate',
      'POST /roles/:id/principalkeys/import',
      'POST /roles/:id/principalkeys',
      'GET /roles/:id/principalkeys/:keyId',
      'DELETE /roles/:id/principalkeys/:keyId',
    ],
  },
  auth: {
    'oauth-token.ts': ['POST /oauth/token', 'POST /oauth/revoke'],
    'oauth-authorize.ts': ['GET /oauth/authorize'],
    'login.ts': ['POST /login'],
    'oauth-jwks.ts': ['GET /oauth/jwks'],
    'logout.ts': ['POST /logout'],
    'keys.ts': ['POST /keys/rotate'],
  },
  settings: {
    'settings.ts': [
      'GET /settings/${scope.name}',
      'PUT /settings/${scope.name}',
      'GET /settings/${scope.name}/${section.name}',
      'PUT /settings/${scope.name}/${section.name}',
      'GET /settings/:scope',
      'PUT /settings/:scope',
      'GET /settings/:scope/:section',
      'PUT /settings/:scope/:section',
    ],
    'schema.ts': ['GET /schema/${scope.name}/${section.name}', 'GET /schema/${scope.name}', 'GET /schema/:scope', 'GET /schema/:scope/:section'],
    'restart-required.ts': ['POST /restart_required/${scope.name}', 'POST /restart_required/:scope'],
  },
  'host-store': {
    'hosts.ts': [
      'GET /hosts',
      'POST /hosts/search',
      'GET /hosts/tags',
      'POST /hosts/resolve',
      'POST /hosts/deploy',
      'POST /hosts',
      'GET /hosts/:id',
      'PUT /hosts/:id',
      'DELETE /hosts/:id',
      'PUT /hosts/:id/deployable',
      'PUT /hosts/:id/disabled',
      'GET /hosts/:id/session_host_certificates',
      'DELETE /hosts/:id/session_host_certificates',
      'DELETE /hosts/:id/session_host_certificates/:certificate_id',
      'GET /hosts/:id/effective_service_options',
      'GET /hosts/:id/access',
    ],
    'settings.ts': ['GET /settings/default_service_options'],
    'whitelists.ts': ['GET /whitelists', 'POST /whitelists', 'POST /whitelists/search', 'POST /whitelists/evaluate', 'GET /whitelists/:id', 'PUT /whitelists/:id', 'DELETE /whitelists/:id'],
  },
  'local-user-store': {
    'users.ts': ['GET /users', 'GET /users/tags', 'POST /users', 'GET /users/:id', 'PUT /users/:id', 'PUT /users/:id/password', 'DELETE /users/:id'],
    'api-clients.ts': ['GET /api-clients', 'POST /api-clients/search', 'POST /api-clients', 'GET /api-clients/:id', 'PUT /api-clients/:id', 'POST /api-clients/:id/rotate-secret', 'DELETE /api-clients/:id'],
    'trusted-clients.ts': ['GET /trusted-clients', 'POST /trusted-clients', 'GET /trusted-clients/:id', 'PUT /trusted-clients/:id', 'DELETE /trusted-clients/:id'],
    'extender-clients.ts': ['GET /extender-clients'],
  },
  'monitor-service': {
    'audit-events.ts': ['GET /auditevents', 'POST /auditevents/search', 'GET /auditevents/codes', 'POST /auditevents/batch'],
    'components.ts': ['GET /components', 'GET /components/:hostname'],
    'instance.ts': ['GET /instance/status', 'POST /instance/exit'],
    'time.ts': ['GET /time'],
  },
  authorizer: {
    'icap-cas.ts': ['GET /icap/cas', 'GET /icap/cas/config', 'GET /icap/cas/:id', 'GET /icap/cas/:id/crl'],
    'icap-config.ts': ['POST /icap/conf/:trusted_client_id', 'GET /icap/conf/:trusted_client_id/:session_id'],
    'carrier-config.ts': ['POST /carrier/conf/:trusted_client_id', 'GET /carrier/conf/:trusted_client_id/:session_id'],
    'extender-config.ts': ['POST /extender/conf/:trusted_client_id', 'GET /extender/conf/:trusted_client_id/:session_id'],
    'extender-cas.ts': ['GET /extender/cas', 'GET /extender/cas/config', 'GET /extender/cas/:id', 'GET /extender/cas/:id/crl', 'GET /extender-trust-anchor'],
    'icap-registration.ts': ['POST /icap/register'],
    'icap-policy.ts': ['GET /icap/policy'],
    'web-sessions.ts': ['POST /icap/sessions', 'DELETE /icap/sessions/:session_id'],
    'access-groups.ts': [
      'GET /accessgroups',
      'POST /accessgroups',
      'POST /accessgroups/search',
      'GET /accessgroups/:id',
      'PUT /accessgroups/:id',
      'DELETE /accessgroups/:id',
      'POST /accessgroups/:id/cas',
      'DELETE /accessgroups/:id/cas/:ca_id',
    ],
    'authorizer-cas.ts': ['GET /cas', 'GET /cas/:id', 'GET /cas/:id/crl'],
  },
};

function sourceFiles(service: string): string[] {
  return readdirSync(path.join(SERVICES, service), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
}

function read(service: string, file: string): string {
  return readFileSync(path.join(SERVICES, service, file), 'utf8');
}

/**
 * The routes a file declares: every `app.<method>(` call, its path a string or template literal or
 * a `const` of one in the same file. A call whose path cannot be read fails the test.
 */
function declaredRoutes(source: string): string[] {
  const routes: string[] = [];
  for (const call of source.matchAll(/\bapp\.(get|post|put|delete|patch|head|options|route)\(\s*([^,)]*)/g)) {
    const method = (call[1] as string).toUpperCase();
    const argument = (call[2] as string).trim();
    const literal = /^(['`])(.*)\1$/.exec(argument);
    if (literal) {
      routes.push(`${method} ${literal[2]}`);
      continue;
    }
    const constant = /^\w+$/.test(argument) ? new RegExp(`const ${argument} = (['\`])(.*?)\\1;`).exec(source) : null;
    if (!constant) throw new Error(`cannot read the path of app.${call[1]}(${argument}`);
    routes.push(`${method} ${constant[2]}`);
  }
  return routes;
}

/** Kysely query builders and raw SQL: what only a repository may contain. */
const SQL = /\.(selectFrom|insertInto|updateTable|deleteFrom|replaceInto|mergeInto|selectNoFrom)\(|\bsql(<[^>]*>)?`/;

describe('service layout', () => {
  for (const [service, expected] of Object.entries(ROUTE_FILES)) {
    it(`${service}: each resource's routes are declared in the file named after it, and index.ts declares none`, () => {
      const actual: Record<string, string[]> = {};
      for (const file of sourceFiles(service)) {
        const routes = declaredRoutes(read(service, file));
        if (routes.length > 0) actual[file] = routes.sort();
      }
      expect(actual).toEqual(Object.fromEntries(Object.entries(expected).map(([file, routes]) => [file, [...routes].sort()])));
      expect(read(service, 'index.ts')).not.toMatch(/\bapp\.(get|post|put|delete|patch|route)\(/);
    });

    it(`${service}: route files and use cases hold no SQL`, () => {
      const useCases = sourceFiles(service).filter((file) => file === 'use-cases.ts' || file.endsWith('-use-cases.ts'));
      const checked = [...Object.keys(expected), 'index.ts', ...useCases];
      const withSql = checked.filter((file) => SQL.test(read(service, file)));
      expect(withSql).toEqual([]);
    });
  }

  it('repositories record no audit events and bump no policy version: their use cases do (host-store, settings, role-store, local-user-store, monitor-service, authorizer)', () => {
    for (const service of ['host-store', 'settings', 'role-store', 'local-user-store', 'monitor-service', 'authorizer']) {
      expect(read(service, 'repository.ts'), service).not.toMatch(/recordAuditEvent|bumpPolicyVersion/);
    }
    expect(read('authorizer', 'access-group-repository.ts')).not.toMatch(/recordAuditEvent|bumpPolicyVersion/);
  });

  it('authorizer and monitor-service: route files leave transactions and audit events to use-cases.ts', () => {
    for (const [service, files] of [['authorizer', ['icap-cas.ts', 'icap-config.ts', 'icap-registration.ts', 'icap-policy.ts', 'access-groups.ts', 'authorizer-cas.ts', 'web-sessions.ts']], ['monitor-service', ['audit-events.ts', 'components.ts', 'instance.ts', 'time.ts']]] as const) {
      for (const file of files) expect(read(service, file), `${service}/${file}`).not.toMatch(/recordAuditEvent|\.transaction\(/);
    }
  });

  it('authorizer: the web policy builder reads the database through repository.ts', () => {
    expect(read('authorizer', 'web-policy-builder.ts')).not.toMatch(SQL);
  });

  it('auth: subject loading and the login flow read the database through repository.ts', () => {
    for (const file of ['subjects.ts', 'oauth-authorize.ts', 'login.ts', 'use-cases.ts']) expect(read('auth', file), file).not.toMatch(SQL);
  });

  it('auth: tokens and signing keys read and write the database through repository.ts', () => {
    for (const file of ['token-service.ts', 'access-tokens.ts', 'revocations.ts', 'refresh-tokens.ts', 'signing-keys.ts']) expect(read('auth', file), file).not.toMatch(SQL);
  });

  it('the route reader sees every declaration, including a path kept in a const', () => {
    expect(declaredRoutes("app.get('/a', {}, h);\nconst url = `/b/${x}`;\napp.put(\n  url,\n  {})")).toEqual(['GET /a', 'PUT /b/${x}']);
    expect(() => declaredRoutes('app.post(pathOf(x), {})')).toThrow(/cannot read/);
  });
});
