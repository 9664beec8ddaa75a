import type { AuditEventView } from '../repository.js';

/** Syslog facility of exported events: authpriv (10), security/authorization messages. */
export const SYSLOG_FACILITY_AUTHPRIV = 10;
/** Severities used: warning (4) for a failed or denied action, notice (5) otherwise. */
export const SYSLOG_SEVERITY_WARNING = 4;
export const SYSLOG_SEVERITY_NOTICE = 5;
/** SD-ID of the structured data element: `privgate` under the documentation enterprise number (RFC 5612). */
export const SYSLOG_SD_ID = 'privgate@32473';
export const SYSLOG_APP_NAME = 'privgate';

/** The fields copied into the structured data element, in this order, when the event has them. */
const SD_PARAMS = ['id', 'event_id', 'service_id', 'service_name', 'type', 'outcome', 'principal_id', 'principal_name', 'source_address', 'object_type', 'object_id'] as const;

/** One JSON line of the file sink: the event exactly as `GET /monitor-service/api/v1/auditevents` shows it. */
export function jsonLine(event: AuditEventView): string {
  return `${JSON.stringify(event)}\n`;
}

/** A PARAM-VALUE with `"`, `\` and `]` escaped (RFC 5424 section 6.3.3). */
export function escapeSdValue(value: string): string {
  return value.replace(/["\\\]]/g, (character) => `\\${character}`);
}

/**
 * A header field (HOSTNAME, APP-NAME, PROCID, MSGID): printable US-ASCII only (others become
 * `_`), at most `max` characters, `-` (NILVALUE) when empty.
 */
export function headerField(value: string, max: number): string {
  const printable = value.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return printable === '' ? '-' : printable;
}

export function syslogSeverity(outcome: string): number {
  return outcome === 'failure' || outcome === 'deny' ? SYSLOG_SEVERITY_WARNING : SYSLOG_SEVERITY_NOTICE;
}

export interface SyslogOrigin {
  hostname: string;
  procid: string;
}

/**
 * An RFC 5424 message for `event`: PRI authpriv with notice/warning by outcome, VERSION 1,
 * TIMESTAMP the event's `created`, HOSTNAME and PROCID of this node, APP-NAME `privgate`, MSGID
 * the event_name, one SD element `[privgate@32473 …]` with the event's ids and who/what fields,
 * and MSG the event as JSON (UTF-8, after a BOM).
 */
export function syslogMessage(event: AuditEventView, origin: SyslogOrigin): string {
  const pri = SYSLOG_FACILITY_AUTHPRIV * 8 + syslogSeverity(event.outcome);
  const fields = event as unknown as Record<string, unknown>;
  let sd = `[${SYSLOG_SD_ID}`;
  for (const name of SD_PARAMS) {
    const value = fields[name];
    if (typeof value === 'string') sd += ` ${name}="${escapeSdValue(value)}"`;
  }
  sd += ']';
  const header = [
    `<${pri}>1`,
    headerField(event.created, 64),
    headerField(origin.hostname, 255),
    SYSLOG_APP_NAME,
    headerField(origin.procid, 128),
    headerField(event.event_name, 32),
  ].join(' ');
  return `${header} ${sd} \uFEFF${JSON.stringify(event)}`;
}

/** Octet-counting framing (RFC 6587 section 3.4.1, RFC 5425 section 4.3): `LENGTH SP MESSAGE`, length in bytes. */
export function octetCountedFrame(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}
