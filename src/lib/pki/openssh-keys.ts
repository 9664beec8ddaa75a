/**
 * OpenSSH public-key encoding (`authorized_keys` form) of RSA, ECDSA and Ed25519 keys.
 *
 * @module
 */
import type { KeyObject } from 'node:crypto';

function sshString(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length, 0);
  return Buffer.concat([len, body]);
}

/** SSH mpint from an unsigned big-endian magnitude. */
function sshMpint(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length && magnitude[start] === 0) start++;
  let body = magnitude.subarray(start);
  if (body.length > 0 && body[0]! >= 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return sshString(body);
}

const SSH_EC_CURVES: Record<string, string> = { 'P-256': 'nistp256', 'P-384': 'nistp384', 'P-521': 'nistp521' };

/**
 * The key in OpenSSH `authorized_keys` form without comment (`ecdsa-sha2-nistp256 AAAA…`,
 * `ssh-rsa AAAA…`, `ssh-ed25519 AAAA…`), or null for a key type or curve OpenSSH has no name for.
 */
export function opensshPublicKey(key: KeyObject): string | null {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const jwk = key.export({ format: 'jwk' });
    if (!jwk.n || !jwk.e) return null;
    const blob = Buffer.concat([
      sshString('ssh-rsa'),
      sshMpint(Buffer.from(jwk.e, 'base64url')),
      sshMpint(Buffer.from(jwk.n, 'base64url')),
    ]);
    return `ssh-rsa ${blob.toString('base64')}`;
  }
  if (type === 'ec') {
    const jwk = key.export({ format: 'jwk' });
    const curve = jwk.crv ? SSH_EC_CURVES[jwk.crv] : undefined;
    if (!curve || !jwk.x || !jwk.y) return null;
    const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
    const name = `ecdsa-sha2-${curve}`;
    const blob = Buffer.concat([sshString(name), sshString(curve), sshString(point)]);
    return `${name} ${blob.toString('base64')}`;
  }
  if (type === 'ed25519') {
    const jwk = key.export({ format: 'jwk' });
    if (!jwk.x) return null;
    const blob = Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.from(jwk.x, 'base64url'))]);
    return `ssh-ed25519 ${blob.toString('base64')}`;
  }
  return null;
}
