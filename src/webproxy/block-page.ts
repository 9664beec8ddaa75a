/**
 * The HTTP answers the web proxy gives instead of the origin's: a small self-contained HTML page
 * (no external resources, nothing from the request echoed unescaped) and, for a missing or bad
 * session, a 407 challenge for Bearer proxy credentials.
 */
import type { DenyReason } from './decision.js';
import type { HttpHeaderField } from './icap-types.js';

/** The header that names the reason of a block, for support staff and tests. */
export const BLOCK_REASON_HEADER = 'X-Privgate-Block';

const TITLES: Readonly<Record<DenyReason, string>> = {
  no_policy: 'Web access is not available yet',
  session_missing: 'Sign-in required',
  session_invalid: 'Your web session is not valid',
  session_expired: 'Your web session has expired',
  session_revoked: 'Your web session has been ended',
  host_unknown: 'This web service is no longer available',
  principal_unknown: 'This account no longer has web access',
  bad_target: 'The address could not be understood',
  domain_not_allowed: 'This site is not allowed',
  upload_blocked: 'File upload is not allowed',
  download_blocked: 'File download is not allowed',
  audio_blocked: 'Audio is not allowed',
};

const EXPLANATIONS: Readonly<Record<DenyReason, string>> = {
  no_policy: 'The web proxy has not received its access policy from the control plane yet. Try again in a moment.',
  session_missing: 'Requests through this proxy need a web session. Open the web service from the access portal.',
  session_invalid: 'The web session could not be verified. Open the web service again from the access portal.',
  session_expired: 'The web session has expired. Open the web service again from the access portal.',
  session_revoked: 'The web session was ended by an administrator or by you.',
  host_unknown: 'The web service of this session has been removed.',
  principal_unknown: 'The account of this session has been removed from the web service.',
  bad_target: 'The request did not name a site the proxy can check.',
  domain_not_allowed: 'This session may only reach the domains allowed for its web service.',
  upload_blocked: 'Uploading files is switched off for this web service.',
  download_blocked: 'Downloading files is switched off for this web service.',
  audio_blocked: 'Audio is switched off for this web service.',
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/** A refusal as an HTTP response for the ICAP `respond` decision. */
export interface BlockResponse {
  status: number;
  headers: HttpHeaderField[];
  body: string;
}

/**
 * The page for a refusal. `site` is the target for display (scheme://host/path, no query); 407
 * answers carry `Proxy-Authenticate: Bearer` (with `error="invalid_token"` for a bad token).
 */
export function blockResponse(options: { status: number; reason: DenyReason; site?: string; requestId: string }): BlockResponse {
  const title = TITLES[options.reason];
  const site = options.site ? `<p class="site">${escapeHtml(options.site)}</p>` : '';
  const body =
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">' +
    `<title>${escapeHtml(title)}</title>` +
    '<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}' +
    'h1{font-size:1.4rem}.site{font-family:monospace;word-break:break-all;color:#555}.ref{color:#777;font-size:.85rem}</style>' +
    `</head><body><h1>${escapeHtml(title)}</h1>${site}<p>${escapeHtml(EXPLANATIONS[options.reason])}</p>` +
    `<p class="ref">privgate web proxy · reason ${escapeHtml(options.reason)} · reference ${escapeHtml(options.requestId)}</p></body></html>\n`;
  const headers: HttpHeaderField[] = [
    { name: 'Content-Type', value: 'text/html; charset=utf-8' },
    { name: 'Cache-Control', value: 'no-store' },
    { name: 'X-Content-Type-Options', value: 'nosniff' },
    { name: 'Content-Security-Policy', value: "default-src 'none'; style-src 'unsafe-inline'" },
    { name: BLOCK_REASON_HEADER, value: options.reason },
  ];
  if (options.status === 407) {
    const bad = options.reason !== 'session_missing';
    headers.push({ name: 'Proxy-Authenticate', value: `Bearer realm="privgate"${bad ? ', error="invalid_token"' : ''}` });
  }
  if (options.status === 503) headers.push({ name: 'Retry-After', value: '10' });
  return { status: options.status, headers, body };
}
