/**
 * SSH key pairs for role principal keys: generated RSA keys and imported RSA or Ed25519 private
 * keys, with the public half in OpenSSH `authorized_keys` form (`ssh-rsa AAAA…`), encoded here
 * from the key's JWK (RFC 4253 §6.6, RFC 8709). No I/O.
 *
 * @module
 */
import crypto from 'node:crypto';
import { promisify } from 'node:util';

const generateKeyPair = promisify(crypto.generateKeyPair);

/** Bits of a generated RSA principal key (the Terraform provider waits for an `ssh-rsa` key). */
export const PRINCIPAL_KEY_BITS = 3072;
/** Imported RSA keys must be at least this strong. */
const MIN_RSA_BITS = 2048;

export interface SshKeyPair {
  /** PKCS#8 PEM of the private key: seal it, never return it. */
  privatePem: string;
  /** `ssh-rsa AAAA…` or `ssh-ed25519 AAAA…`. */
  publicKey: string;
}

/** An SSH wire `string`: uint32 length then the bytes. */
function sshString(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** An SSH `mpint` of a non-negative big-endian magnitude: minimal, with a 0 byte when the top bit is set. */
function sshMpint(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length && magnitude[start] === 0) start += 1;
  const trimmed = magnitude.subarray(start);
  return sshString(trimmed.length > 0 && (trimmed[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

/** The OpenSSH public key line of an RSA or Ed25519 key; throws on other types. */
export function openSshPublicKey(key: crypto.KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (key.asymmetricKeyType === 'rsa' && jwk.e && jwk.n) {
    const blob = Buffer.concat([sshString(Buffer.from('ssh-rsa')), sshMpint(Buffer.from(jwk.e, 'base64url')), sshMpint(Buffer.from(jwk.n, 'base64url'))]);
    return `ssh-rsa ${blob.toString('base64')}`;
  }
  if (key.asymmetricKeyType === 'ed25519' && jwk.x) {
    const blob = Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(Buffer.from(jwk.x, 'base64url'))]);
    return `ssh-ed25519 ${blob.toString('base64')}`;
  }
  throw new Error(`unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`);
}

/** A fresh RSA principal key pair (asynchronous: generation runs off the event loop). */
export async function generatePrincipalKey(): Promise<SshKeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('rsa', { modulusLength: PRINCIPAL_KEY_BITS, publicExponent: 0x10001 });
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: openSshPublicKey(publicKey) };
}

/**
 * An imported private key (PEM: PKCS#8, PKCS#1 `RSA PRIVATE KEY`), unencrypted, RSA of at least
 * 2048 bits or Ed25519. Returns a reason instead when it is not one; the reason never quotes the key.
 */
export function importPrivateKey(pem: string): SshKeyPair | { problem: string } {
  if (/-----BEGIN OPENSSH PRIVATE KEY-----/.test(pem)) return { problem: 'OpenSSH-format private keys are not accepted: send PEM (ssh-keygen -p -m PEM, or PKCS#8)' };
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    return { problem: 'private_key is not an unencrypted PEM private key' };
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) return { problem: `RSA principal keys need at least ${MIN_RSA_BITS} bits` };
  } else if (key.asymmetricKeyType !== 'ed25519') {
    return { problem: 'principal keys are RSA or Ed25519' };
  }
  return { privatePem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: openSshPublicKey(crypto.createPublicKey(key)) };
}
