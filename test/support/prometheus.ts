/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), for tests that
 * scrape `/metrics`. Written here because the npm parser tried (parse-prometheus-text-format
 * 1.1.1) merges every series of a labelled histogram into one and drops their labels, count and
 * sum. Strict: a line that is not a comment, a HELP/TYPE line or a well-formed sample throws;
 * a sample must belong to the family its TYPE line declared (with `_bucket`/`_sum`/`_count` for
 * histograms); a histogram's buckets must be cumulative and end in `+Inf` equal to `_count`.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (`x_bucket` for a histogram bucket). */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  help: string;
  type: MetricType;
  readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(raw: string, line: string): number {
  if (raw === '+Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  if (raw === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) throw new Error(`bad sample value in: ${line}`);
  return Number(raw);
}

/** `name{a="x",b="y"} value [timestamp]`. */
function parseSample(line: string): Sample {
  const brace = line.indexOf('{');
  const nameEnd = brace >= 0 ? brace : line.indexOf(' ');
  if (nameEnd <= 0) throw new Error(`bad sample line: ${line}`);
  const name = line.slice(0, nameEnd);
  if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
  const labels: Record<string, string> = {};
  let i = nameEnd;
  if (brace >= 0) {
    i = brace + 1;
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i);
      if (eq < 0) throw new Error(`bad labels in: ${line}`);
      const key = line.slice(i, eq);
      if (!LABEL.test(key) || key in labels) throw new Error(`bad or repeated label "${key}" in: ${line}`);
      if (line[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`);
      let v = '';
      let j = eq + 2;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\') {
          const c = line[++j];
          if (c === 'n') v += '\n';
          else if (c === '\\' || c === '"') v += c;
          else throw new Error(`bad escape in: ${line}`);
        } else v += line[j];
      }
      if (j >= line.length) throw new Error(`unterminated label value in: ${line}`);
      labels[key] = v;
      i = j + 1;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`bad labels in: ${line}`);
    }
    i++;
  }
  const rest = line.slice(i).trim().split(/\s+/);
  if (rest.length < 1 || rest.length > 2 || rest[0] === '') throw new Error(`bad sample line: ${line}`);
  if (rest.length === 2 && !/^-?\d+$/.test(rest[1]!)) throw new Error(`bad timestamp in: ${line}`);
  return { name, labels, value: parseValue(rest[0]!, line) };
}

function familyOf(sample: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  const direct = families.get(sample);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue;
    const f = families.get(sample.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

const seriesKey = (labels: Readonly<Record<string, string>>, without?: string): string =>
  JSON.stringify(Object.entries(labels).filter(([k]) => k !== without).sort(([a], [b]) => a.localeCompare(b)));

function checkHistogram(f: MetricFamily): void {
  const bySeries = new Map<string, Array<{ le: number; v: number }>>();
  const counts = new Map<string, number>();
  for (const s of f.samples) {
    if (s.name === `${f.name}_bucket`) {
      const le = s.labels['le'];
      if (le === undefined) throw new Error(`${f.name}_bucket without le`);
      const k = seriesKey(s.labels, 'le');
      (bySeries.get(k) ?? bySeries.set(k, []).get(k)!).push({ le: parseValue(le, le), v: s.value });
    } else if (s.name === `${f.name}_count`) counts.set(seriesKey(s.labels), s.value);
  }
  for (const [k, buckets] of bySeries) {
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]!.le > buckets[i - 1]!.le) || buckets[i]!.v < buckets[i - 1]!.v) throw new Error(`${f.name}${k}: buckets not cumulative`);
    }
    const last = buckets.at(-1)!;
    if (last.le !== Infinity) throw new Error(`${f.name}${k}: no +Inf bucket`);
    if (counts.get(k) !== last.v) throw new Error(`${f.name}${k}: +Inf bucket ${last.v} != _count ${counts.get(k)}`);
  }
}

/** Parses a scrape; throws on anything that is not the text format. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const declare = (name: string): MetricFamily => families.get(name) ?? families.set(name, { name, help: '', type: 'untyped', samples: [] }).get(name)!;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
    if (meta) {
      const [, kind, name, rest = ''] = meta;
      if (!NAME.test(name!)) throw new Error(`bad metric name in: ${line}`);
      const f = declare(name!);
      if (kind === 'HELP') f.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      else if (['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) {
        if (f.samples.length > 0) throw new Error(`TYPE after samples of ${name}`);
        f.type = rest as MetricType;
      } else throw new Error(`bad TYPE line: ${line}`);
      continue;
    }
    if (line.startsWith('#')) continue;
    const s = parseSample(line);
    const f = familyOf(s.name, families);
    if (!f) throw new Error(`sample ${s.name} belongs to no declared family`);
    if (f.type === 'counter' && !(s.value >= 0)) throw new Error(`negative counter: ${line}`);
    f.samples.push(s);
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

/** A parsed scrape with lookups by name and exact labels. */
export class Scrape {
  readonly families: ReadonlyMap<string, MetricFamily>;
  constructor(readonly text: string) {
    this.families = parsePrometheusText(text);
  }

  family(name: string): MetricFamily {
    const f = this.families.get(name);
    if (!f) throw new Error(`no metric family ${name} in the scrape`);
    return f;
  }

  private sample(family: string, sampleName: string, labels: Record<string, string>): Sample | undefined {
    const want = seriesKey(labels);
    return this.family(family).samples.find((s) => s.name === sampleName && seriesKey(s.labels) === want);
  }

  /** A counter's or gauge's value for exactly these labels; 0 when the series is absent. */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.sample(name, name, labels)?.value ?? 0;
  }

  /** A histogram's `_count` for exactly these labels; 0 when absent. */
  count(name: string, labels: Record<string, string> = {}): number {
    return this.sample(name, `${name}_count`, labels)?.value ?? 0;
  }

  /** A histogram's `_sum` for exactly these labels; 0 when absent. */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.sample(name, `${name}_sum`, labels)?.value ?? 0;
  }

  /** The sum over every series of a counter or gauge. */
  total(name: string): number {
    return this.family(name).samples.reduce((t, s) => t + s.value, 0);
  }
}

/** GET `<base>/metrics`, checked to be the Prometheus text format, parsed. */
export async function scrape(base: string, init: RequestInit = {}): Promise<Scrape> {
  const res = await fetch(`${base}/metrics`, init);
  if (res.status !== 200) throw new Error(`GET ${base}/metrics: ${res.status} ${await res.text()}`);
  const ct = res.headers.get('content-type');
  if (!ct?.startsWith('text/plain') || !ct.includes('version=0.0.4')) throw new Error(`not the Prometheus text format: content-type ${ct}`);
  return new Scrape(await res.text());
}

/** The metrics server's base URL from a service's "metrics listening" log line (JSON lines on stderr). */
export function metricsUrlFrom(output: string): string | undefined {
  for (const line of output.split('\n')) {
    if (!line.includes('"metrics listening"')) continue;
    const rec = JSON.parse(line) as { url?: string; port?: number };
    if (rec.url && rec.port) return rec.url.replace(/\/metrics$/, '');
  }
  return undefined;
}
