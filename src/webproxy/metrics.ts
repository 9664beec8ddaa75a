/**
 * The web proxy's Prometheus metrics: a handful of labelled counters and gauges rendered in the
 * text exposition format (version 0.0.4). Small on purpose; no client library needed.
 */

type Labels = Readonly<Record<string, string>>;

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((name) => `${name}="${labels[name]!.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

/** A monotonically increasing count per label set. */
export class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }

  render(): string {
    let text = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    if (this.values.size === 0) text += `${this.name} 0\n`;
    for (const [key, value] of this.values) text += `${this.name}${key ? `{${key}}` : ''} ${value}\n`;
    return text;
  }
}

/** A value read when scraped. */
export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
  ) {}

  render(): string {
    const value = this.read();
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n${this.name} ${Number.isFinite(value) ? value : 'NaN'}\n`;
  }
}

/** Everything `/metrics` shows. Gauges are wired up by the daemon once its parts exist. */
export class WebProxyMetrics {
  readonly icapRequests = new Counter('privgate_webproxy_icap_requests_total', 'ICAP requests received, by ICAP method.');
  readonly decisions = new Counter('privgate_webproxy_decisions_total', 'Policy decisions, by ICAP service kind (reqmod, respmod) and decision kind.');
  readonly icapErrors = new Counter('privgate_webproxy_icap_errors_total', 'ICAP requests answered with an ICAP error, by cause (protocol, handler, service).');
  readonly auditDropped = new Counter('privgate_webproxy_audit_queue_dropped_total', 'Audit events dropped because the queue was full or the control plane rejected them.');
  readonly auditSent = new Counter('privgate_webproxy_audit_events_sent_total', 'Audit events accepted by the control plane.');
  readonly policyUpdates = new Counter('privgate_webproxy_policy_updates_total', 'Policy documents installed, by source (feed, state_file).');
  readonly controlPlaneErrors = new Counter('privgate_webproxy_control_plane_errors_total', 'Failed calls to the control plane, by operation.');
  private readonly gauges: Gauge[] = [];

  addGauge(name: string, help: string, read: () => number): void {
    this.gauges.push(new Gauge(name, help, read));
  }

  render(): string {
    const counters = [this.icapRequests, this.decisions, this.icapErrors, this.auditDropped, this.auditSent, this.policyUpdates, this.controlPlaneErrors];
    return [...counters.map((counter) => counter.render()), ...this.gauges.map((gauge) => gauge.render())].join('');
  }
}
