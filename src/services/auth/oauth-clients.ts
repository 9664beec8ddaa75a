/**
 * Public OAuth clients (no secret; PKCE required) and the redirect URIs each may use. `privx-ui`
 * is the one the PrivX Go SDK uses for users.
 */
export const PUBLIC_OAUTH_CLIENTS: ReadonlyMap<string, readonly string[]> = new Map([['privx-ui', ['/privx/oauth-callback']]]);

export function isAllowedRedirect(clientId: string, redirectUri: string): boolean {
  return PUBLIC_OAUTH_CLIENTS.get(clientId)?.includes(redirectUri) ?? false;
}

/** RFC 7636: a verifier or challenge is 43–128 unreserved characters. */
export const PKCE_VALUE = /^[A-Za-z0-9\-._~]{43,128}$/;
