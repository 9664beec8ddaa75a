/**
 * A role's contextual limit (`context`): weekdays and a daily window in a time zone, and client
 * address masks. `limitAllows` is what token issue asks; `limitProblem` is what a role write checks.
 */
import { describe, expect, it } from 'vitest';
import { limitAllows, limitFromJson, limitProblem, NO_LIMIT, type ContextualLimit } from '../../src/lib/contextual-limit.js';

function limit(change: Partial<ContextualLimit>): ContextualLimit {
  return { ...NO_LIMIT, enabled: true, ...change };
}

// 2026-12-04 is a Friday.
const FRIDAY_0730Z = new Date('2026-12-04T07:30:00Z');

describe('limitAllows: time', () => {
  it('a disabled limit allows any time and address, even an invalid one', () => {
    expect(limitAllows({ ...NO_LIMIT, timezone: 'Nowhere/Else', ip_masks: ['10.0.0.0/8'] }, FRIDAY_0730Z, '192.0.2.1')).toBe(true);
  });

  it('an enabled limit without conditions allows everything', () => {
    expect(limitAllows(limit({}), FRIDAY_0730Z, '192.0.2.1')).toBe(true);
  });

  it('a daily window in UTC: inside allows, before and at its end do not', () => {
    const office = limit({ start_time: '07:00', end_time: '16:00' });
    expect(limitAllows(office, FRIDAY_0730Z, '192.0.2.1')).toBe(true);
    expect(limitAllows(office, new Date('2026-12-04T06:59:59Z'), '192.0.2.1')).toBe(false);
    expect(limitAllows(office, new Date('2026-12-04T16:00:00Z'), '192.0.2.1')).toBe(false);
  });

  it('the window is read in the limit\'s time zone (Helsinki is UTC+2 in December)', () => {
    const helsinki = limit({ start_time: '09:00', end_time: '17:00', timezone: 'Europe/Helsinki' });
    expect(limitAllows(helsinki, FRIDAY_0730Z, '192.0.2.1')).toBe(true); // 09:30 local
    expect(limitAllows(limit({ start_time: '09:00', end_time: '17:00' }), FRIDAY_0730Z, '192.0.2.1')).toBe(false); // 07:30 UTC
  });

  it('follows daylight saving time (New York is UTC-4 in July, UTC-5 in January)', () => {
    const nine = limit({ start_time: '09:00', end_time: '10:00', timezone: 'America/New_York' });
    expect(limitAllows(nine, new Date('2026-07-01T13:30:00Z'), '192.0.2.1')).toBe(true);
    expect(limitAllows(nine, new Date('2026-01-07T13:30:00Z'), '192.0.2.1')).toBe(false);
    expect(limitAllows(nine, new Date('2026-01-07T14:30:00Z'), '192.0.2.1')).toBe(true);
  });

  it('weekdays: short or full names, any case, in the limit\'s zone', () => {
    expect(limitAllows(limit({ validity: ['Fri'] }), FRIDAY_0730Z, '192.0.2.1')).toBe(true);
    expect(limitAllows(limit({ validity: ['monday', 'TUESDAY'] }), FRIDAY_0730Z, '192.0.2.1')).toBe(false);
    // Friday 23:30 UTC is already Saturday in Helsinki.
    const lateFriday = new Date('2026-12-04T23:30:00Z');
    expect(limitAllows(limit({ validity: ['fri'], timezone: 'Europe/Helsinki' }), lateFriday, '192.0.2.1')).toBe(false);
    expect(limitAllows(limit({ validity: ['sat'], timezone: 'Europe/Helsinki' }), lateFriday, '192.0.2.1')).toBe(true);
  });

  it('an overnight window: the hours after midnight belong to the previous day', () => {
    const mondayNight = limit({ validity: ['mon'], start_time: '22:00', end_time: '06:00' });
    expect(limitAllows(mondayNight, new Date('2026-11-30T23:00:00Z'), '192.0.2.1')).toBe(true); // Monday 23:00
    expect(limitAllows(mondayNight, new Date('2026-12-01T02:00:00Z'), '192.0.2.1')).toBe(true); // Tuesday 02:00
    expect(limitAllows(mondayNight, new Date('2026-11-30T02:00:00Z'), '192.0.2.1')).toBe(false); // Monday 02:00 (Sunday's night)
    expect(limitAllows(mondayNight, new Date('2026-12-01T12:00:00Z'), '192.0.2.1')).toBe(false);
  });

  it('an empty start is midnight, an empty end the end of the day, 24:00 an end', () => {
    expect(limitAllows(limit({ end_time: '08:00' }), FRIDAY_0730Z, '192.0.2.1')).toBe(true);
    expect(limitAllows(limit({ start_time: '08:00' }), FRIDAY_0730Z, '192.0.2.1')).toBe(false);
    expect(limitAllows(limit({ start_time: '07:00', end_time: '24:00' }), new Date('2026-12-04T23:59:59Z'), '192.0.2.1')).toBe(true);
  });
});

describe('limitAllows: addresses', () => {
  const masks = limit({ ip_masks: ['10.1.0.0/16', '192.0.2.7', '2001:db8:abcd::/48'] });

  it.each([
    ['10.1.200.3', true],
    ['10.2.0.1', false],
    ['192.0.2.7', true],
    ['192.0.2.8', false],
    ['::ffff:10.1.0.9', true],
    ['2001:db8:abcd:12::1', true],
    ['2001:db8:abce::1', false],
    ['not an address', false],
    ['', false],
  ])('%s → %s', (address, allowed) => {
    expect(limitAllows(masks, FRIDAY_0730Z, address)).toBe(allowed);
  });

  it('IPv6 masks with an embedded IPv4 tail and a /0 mask', () => {
    expect(limitAllows(limit({ ip_masks: ['::ffff:0:0/96'] }), FRIDAY_0730Z, '::ffff:192.0.2.1')).toBe(true);
    expect(limitAllows(limit({ ip_masks: ['0.0.0.0/0'] }), FRIDAY_0730Z, '198.51.100.1')).toBe(true);
    expect(limitAllows(limit({ ip_masks: ['0.0.0.0/0'] }), FRIDAY_0730Z, '2001:db8::1')).toBe(false);
  });

  it('time and address must both allow', () => {
    const both = limit({ ip_masks: ['10.0.0.0/8'], start_time: '07:00', end_time: '08:00' });
    expect(limitAllows(both, FRIDAY_0730Z, '10.0.0.1')).toBe(true);
    expect(limitAllows(both, FRIDAY_0730Z, '11.0.0.1')).toBe(false);
    expect(limitAllows(both, new Date('2026-12-04T09:00:00Z'), '10.0.0.1')).toBe(false);
  });
});

describe('limitProblem and stored limits', () => {
  it.each([
    [{ validity: ['Funday'] }, 'validity[0]'],
    [{ start_time: '25:00' }, 'start_time'],
    [{ end_time: '9am' }, 'end_time'],
    [{ start_time: '24:00' }, 'start_time'],
    [{ timezone: 'Mars/Olympus_Mons' }, 'timezone'],
    [{ ip_masks: ['10.0.0.0/8', '10.0.0.0/33'] }, 'ip_masks[1]'],
    [{ ip_masks: ['example.com'] }, 'ip_masks[0]'],
  ])('%j is refused at %s', (change, property) => {
    expect(limitProblem(limit(change as Partial<ContextualLimit>))?.property).toBe(property);
  });

  it('a valid limit has no problem', () => {
    expect(limitProblem(limit({ validity: ['mon', 'Friday'], start_time: '08:00:30', end_time: '24:00', timezone: 'Asia/Kolkata', ip_masks: ['::1', '10.0.0.0/8'] }))).toBeNull();
  });

  it('an invalid limit allows nothing, and a stored limit that does not parse denies', () => {
    expect(limitAllows(limit({ timezone: 'Mars/Olympus_Mons' }), FRIDAY_0730Z, '10.0.0.1')).toBe(false);
    expect(limitAllows(limitFromJson('{not json'), FRIDAY_0730Z, '10.0.0.1')).toBe(false);
    expect(limitAllows(limitFromJson('null'), FRIDAY_0730Z, '10.0.0.1')).toBe(false);
    expect(limitFromJson(JSON.stringify(NO_LIMIT))).toEqual(NO_LIMIT);
  });
});
