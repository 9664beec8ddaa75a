/**
 * The few DER encodings the CRL writer assembles by hand: definite-length TLVs, SEQUENCE, INTEGER
 * and RFC 5280 Time.
 *
 * @module
 */

/** A DER TLV with the definite length form. */
export function derTlv(tag: number, content: Buffer): Buffer {
  const length = content.length;
  let header: Buffer;
  if (length < 0x80) {
    header = Buffer.from([tag, length]);
  } else {
    const lengthBytes: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest & 0xff);
    header = Buffer.from([tag, 0x80 | lengthBytes.length, ...lengthBytes]);
  }
  return Buffer.concat([header, content]);
}

export function derSequence(items: readonly Buffer[]): Buffer {
  return derTlv(0x30, Buffer.concat(items));
}

/** DER encoding of a non-negative safe INTEGER. */
export function derInteger(value: number): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return derTlv(0x02, Buffer.from(hex, 'hex'));
}

/** RFC 5280 Time: UTCTime for years 1950–2049, GeneralizedTime otherwise; whole seconds, `Z`. */
export function derTime(date: Date): Buffer {
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  const year = date.getUTCFullYear();
  const rest = `${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
  if (year >= 1950 && year < 2050) return derTlv(0x17, Buffer.from(`${pad(year % 100)}${rest}`, 'ascii'));
  return derTlv(0x18, Buffer.from(`${pad(year, 4)}${rest}`, 'ascii'));
}
