import type { ResolvedCredentials, TaskExit } from './providers.js';

/** What a secret value is replaced by in worker output and in messages. */
export const REDACTED = '[REDACTED]';

/**
 * Values shorter than this are not scrubbed. A one- to three-character "secret" occurs by chance
 * in almost any output: replacing every occurrence would corrupt artifacts wholesale, and the
 * pattern of markers would itself spell the value out. Such a value protects nothing anyway.
 */
export const MIN_SCRUB_LENGTH = 4;

/** A base64 window shorter than this (6 secret bytes) is too likely to occur by chance. */
const MIN_BASE64_WINDOW = 8;

/**
 * Replaces resolved secret values (and their encoded forms) in what leaves a compute provider:
 * stdout bytes, stderr text, failure reasons and error messages.
 */
export interface Scrubber {
  /** False when there is nothing to scrub (no secret values, or only too-short ones). */
  readonly active: boolean;
  text(text: string): string;
  /**
   * `cut`: the bytes were truncated right after their end (the output cap), so a secret may have
   * been cut in two; a trailing beginning of one is redacted too.
   */
  bytes(bytes: Uint8Array, opts?: { cut?: boolean }): Buffer;
  /** Scrubs an error's message, stack and causes in place and returns it (for `throw`). */
  error<T>(err: T): T;
  /** The exit with stdout, stderr and the failure reason scrubbed. */
  exit(exit: TaskExit): TaskExit;
}

/**
 * The forms a worker is likely to print a secret in: as is; base64 (standard and url-safe, with
 * and without padding, and the part that is the same wherever the value sits in a longer
 * base64-encoded text, e.g. `echo "$TOKEN" | base64` or a base64 JSON document); URL-encoded
 * (`encodeURIComponent` and form encoding); JSON-escaped (also with non-ASCII as `\uXXXX`, and
 * escaped twice); hex, lower and upper case.
 */
export function secretForms(value: string): string[] {
  const forms = new Set<string>([value]);
  const bytes = Buffer.from(value, 'utf8');
  for (const shift of [0, 1, 2]) {
    const b64 = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    if (shift === 0) {
      forms.add(b64);
      forms.add(b64.replace(/=+$/, ''));
    }
    // Characters that depend only on the value's bytes: whole 3-byte groups of the value.
    const window = b64.slice(shift === 0 ? 0 : 4, Math.floor((shift + bytes.length) / 3) * 4);
    if (window.length >= MIN_BASE64_WINDOW) forms.add(window);
  }
  for (const f of [...forms]) if (f !== value) forms.add(f.replace(/\+/g, '-').replace(/\//g, '_'));
  forms.add(encodeURIComponent(value));
  forms.add(new URLSearchParams({ v: value }).toString().slice(2));
  const jsonEscaped = JSON.stringify(value).slice(1, -1);
  forms.add(jsonEscaped);
  // JSON with everything past ASCII as \uXXXX (Python's json.dumps, Java's and Go's HTML-safe
  // encoders), in either hex case, and JSON of JSON (a JSON document carried as a string).
  const asciiOnly = (hex: (h: string) => string): string => jsonEscaped.replace(/[\u007f-\uffff]/g, (c) => `\\u${hex(c.charCodeAt(0).toString(16).padStart(4, '0'))}`);
  forms.add(asciiOnly((h) => h));
  forms.add(asciiOnly((h) => h.toUpperCase()));
  forms.add(JSON.stringify(jsonEscaped).slice(1, -1));
  forms.add(bytes.toString('hex'));
  forms.add(bytes.toString('hex').toUpperCase());
  return [...forms].filter((f) => f.length >= MIN_SCRUB_LENGTH);
}

type Interval = [start: number, end: number];

/** Every match of every pattern, merged where they overlap or touch, in order. */
function matches(patternLengths: readonly number[], find: (p: number, from: number) => number): Interval[] {
  const found: Interval[] = [];
  patternLengths.forEach((len, p) => {
    for (let at = find(p, 0); at !== -1; at = find(p, at + 1)) found.push([at, at + len]);
  });
  found.sort((a, b) => a[0] - b[0]);
  const merged: Interval[] = [];
  for (const m of found) {
    const last = merged[merged.length - 1];
    if (last && m[0] <= last[1]) last[1] = Math.max(last[1], m[1]);
    else merged.push([m[0], m[1]]);
  }
  return merged;
}

/** Length of the longest proper prefix of a pattern that the haystack ends with (0 if none). */
function cutTail(haystack: Buffer, patterns: readonly Buffer[]): number {
  let best = 0;
  for (const p of patterns) {
    for (let n = Math.min(p.length - 1, haystack.length); n > best; n--) {
      if (haystack.subarray(haystack.length - n).equals(p.subarray(0, n))) {
        best = n;
        break;
      }
    }
  }
  return best;
}

const MARKER_BYTES = Buffer.from(REDACTED);

/**
 * One scrubber for every compute provider. `values` are the resolved secret values handed to the
 * worker; values shorter than `MIN_SCRUB_LENGTH` are skipped (see there). Overlapping matches
 * become one marker, so no fragment of a longer form survives next to a shorter one.
 */
export function createScrubber(values: Iterable<string>): Scrubber {
  const forms = new Set<string>();
  for (const v of values) if (v.length >= MIN_SCRUB_LENGTH) for (const f of secretForms(v)) forms.add(f);
  const texts = [...forms];
  const buffers = texts.map((f) => Buffer.from(f, 'utf8'));
  const active = texts.length > 0;

  const text = (s: string): string => {
    if (!active || s.length === 0) return s;
    const found = matches(
      texts.map((t) => t.length),
      (p, from) => s.indexOf(texts[p]!, from),
    );
    if (found.length === 0) return s;
    let out = '';
    let at = 0;
    for (const [start, end] of found) {
      out += s.slice(at, start) + REDACTED;
      at = end;
    }
    return out + s.slice(at);
  };

  const bytes = (input: Uint8Array, opts: { cut?: boolean } = {}): Buffer => {
    const b = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    if (!active || b.length === 0) return b;
    const found = matches(
      buffers.map((p) => p.length),
      (p, from) => b.indexOf(buffers[p]!, from),
    );
    const parts: Buffer[] = [];
    let at = 0;
    for (const [start, end] of found) {
      parts.push(b.subarray(at, start), MARKER_BYTES);
      at = end;
    }
    let rest = b.subarray(at);
    let tail = false;
    if (opts.cut) {
      const n = cutTail(rest, buffers);
      if (n > 0) {
        rest = rest.subarray(0, rest.length - n);
        tail = true;
      }
    }
    if (found.length === 0 && !tail) return b;
    parts.push(rest);
    if (tail) parts.push(MARKER_BYTES);
    return Buffer.concat(parts);
  };

  const error = <T>(err: T): T => {
    if (!active) return err;
    const seen = new Set<unknown>();
    for (let e: unknown = err; e instanceof Error && !seen.has(e); e = e.cause) {
      seen.add(e);
      try {
        e.message = text(e.message);
        if (e.stack !== undefined) e.stack = text(e.stack);
      } catch {
        // A frozen error keeps its text; nothing better can be done in place.
      }
    }
    return err;
  };

  const exit = (x: TaskExit): TaskExit => {
    if (!active) return x;
    return {
      ...x,
      stdout: bytes(x.stdout),
      stderr: text(x.stderr),
      ...(x.providerFailureReason !== undefined ? { providerFailureReason: text(x.providerFailureReason) } : {}),
    };
  };

  return { active, text, bytes, error, exit };
}

/** A scrubber with nothing to scrub. */
export const NO_SCRUBBER: Scrubber = createScrubber([]);

/**
 * The values of `secretRefs` that credentials of kind `static-secrets` (`secrets: { ref: value }`)
 * resolve; refs they do not resolve are left out (the provider reports those).
 */
export function staticSecretValues(secretRefs: Readonly<Record<string, string>> | undefined, credentials: ResolvedCredentials | undefined): string[] {
  const secrets = credentials?.kind === 'static-secrets' ? credentials['secrets'] : undefined;
  if (secrets === null || typeof secrets !== 'object') return [];
  const map = secrets as Record<string, unknown>;
  const out: string[] = [];
  for (const ref of Object.values(secretRefs ?? {})) {
    const v = Object.hasOwn(map, ref) ? map[ref] : undefined;
    if (typeof v === 'string') out.push(v);
  }
  return out;
}
