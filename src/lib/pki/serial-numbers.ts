/**
 * Certificate serial numbers. They are represented everywhere as lower-case hexadecimal strings of
 * the positive integer's magnitude, even-length and without a sign byte (see
 * {@link normalizeSerialHex}), so the value a signed certificate or a certificate description
 * reports can be fed to a CRL unchanged.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';

/**
 * A random positive 128-bit serial: 16 random bytes with the top bit cleared (so the DER INTEGER
 * needs no sign byte) and a non-zero first byte (so the encoding stays 16 bytes long).
 */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) || 0x01;
  return bytes.toString('hex');
}

/**
 * Normalizes a hexadecimal serial number to the canonical form used throughout the pki toolkit:
 * lower case, no `0x` prefix or colons, no redundant leading zero bytes (and therefore no sign
 * byte), even number of digits. `"00:FF"` → `"ff"`, `"0x123"` → `"0123"`, `"0"` → `"00"`.
 *
 * @throws TypeError when the input is not hexadecimal.
 */
export function normalizeSerialHex(serial: string): string {
  let hex = serial.trim().toLowerCase().replace(/:/g, '');
  if (hex.startsWith('0x')) hex = hex.slice(2);
  if (hex.length === 0 || !/^[0-9a-f]+$/.test(hex)) {
    throw new TypeError(`invalid hexadecimal serial number: ${JSON.stringify(serial)}`);
  }
  hex = hex.replace(/^0+/, '');
  if (hex.length === 0) return '00';
  return hex.length % 2 === 1 ? `0${hex}` : hex;
}
