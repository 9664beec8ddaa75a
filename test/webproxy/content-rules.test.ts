import { describe, expect, it } from 'vitest';
import {
  dispositionFilename,
  headerParameter,
  isAudioType,
  isDocumentType,
  isFormDataType,
  isRenderableType,
  mediaType,
  scanMultipart,
} from '../../src/webproxy/content-rules.js';
import { multipartBody } from './helpers.js';

describe('header values', () => {
  it('reads the media type without parameters, lower case', () => {
    expect(mediaType(' Text/HTML ; charset=utf-8')).toBe('text/html');
    expect(mediaType(undefined)).toBe('');
  });

  it('reads quoted and token parameters, with escapes', () => {
    expect(headerParameter('multipart/form-data; boundary=----abc', 'boundary')).toBe('----abc');
    expect(headerParameter('multipart/form-data; BOUNDARY="a b\\"c"', 'boundary')).toBe('a b"c');
    expect(headerParameter('text/plain', 'charset')).toBeUndefined();
  });

  it('prefers filename* (RFC 8187) over filename', () => {
    expect(dispositionFilename(`attachment; filename="plain.txt"; filename*=UTF-8''%E2%82%AC.txt`)).toBe('€.txt');
    expect(dispositionFilename('attachment; filename=plain.txt')).toBe('plain.txt');
    expect(dispositionFilename("attachment; filename*=UTF-8''%E2%82")).toBe('%E2%82');
    expect(dispositionFilename('inline')).toBeUndefined();
  });

  it('classifies types', () => {
    expect(isFormDataType('application/x-www-form-urlencoded')).toBe(true);
    expect(isFormDataType('application/octet-stream')).toBe(false);
    expect(isRenderableType('image/svg+xml')).toBe(true);
    expect(isRenderableType('application/vnd.openxmlformats-officedocument.wordprocessingml.document')).toBe(false);
    expect(isRenderableType('application/x-msdownload')).toBe(false);
    expect(isAudioType('audio/webm')).toBe(true);
    expect(isAudioType('video/webm')).toBe(false);
    expect(isDocumentType('text/html')).toBe(true);
    expect(isDocumentType('text/css')).toBe(false);
  });
});

describe('scanMultipart', () => {
  const boundary = '----WebKitFormBoundary7MA4YWxkTrZu0gW';

  it('finds a file part after other parts', () => {
    const body = Buffer.from(multipartBody(boundary, { name: 'a.txt', content: 'x' }), 'latin1');
    expect(scanMultipart(body, boundary, true)).toEqual({ kind: 'file', filename: 'a.txt' });
  });

  it('decodes a UTF-8 file name sent as raw bytes', () => {
    const body = Buffer.from(multipartBody(boundary, { name: 'ä.txt', content: 'x' }), 'utf8');
    expect(scanMultipart(body, boundary, true)).toEqual({ kind: 'file', filename: 'ä.txt' });
  });

  it('answers none for a complete form without files, incomplete for a partial one', () => {
    const body = Buffer.from(multipartBody(boundary, null), 'latin1');
    expect(scanMultipart(body, boundary, true)).toEqual({ kind: 'none' });
    expect(scanMultipart(body.subarray(0, 20), boundary, false)).toEqual({ kind: 'incomplete' });
    expect(scanMultipart(body.subarray(0, body.length - 10), boundary, false)).toEqual({ kind: 'incomplete' });
  });

  it('stops at the closing delimiter, ignoring a file name in the epilogue', () => {
    const body = Buffer.from(`${multipartBody(boundary, null)}Content-Disposition: form-data; filename="x"\r\n\r\n`, 'latin1');
    expect(scanMultipart(body, boundary, true)).toEqual({ kind: 'none' });
  });

  it('does not mistake a file name inside a field value for a file part', () => {
    const body = Buffer.from(multipartBody(boundary, null, 'Content-Disposition: form-data; filename="fake"'), 'latin1');
    expect(scanMultipart(body, boundary, true)).toEqual({ kind: 'none' });
  });

  it('answers none when the boundary never appears in a complete body', () => {
    expect(scanMultipart(Buffer.from('garbage'), boundary, true)).toEqual({ kind: 'none' });
    expect(scanMultipart(Buffer.from('garbage'), boundary, false)).toEqual({ kind: 'incomplete' });
  });
});
