import { z } from 'zod';
import { parse as parseJsonc, printParseErrorCode, visit as visitJson, type ParseError } from 'jsonc-parser';
import { PlanValidationError, ValueError } from './errors.js';
import { ITEM_ID_MAX, isItemId } from './ids.js';
import { retryPolicySchema } from './retry-policy.js';

/** Limits that keep one plan from exhausting Redis or a runner. */
export const PLAN_LIMITS = {
  maxItems: 200_000,
  maxInputBytes: 64 * 1024,
  maxLocksPerItem: 32,
  maxLockNameLength: 200,
  maxDependencies: 1_000,
  maxPlanBytes: 256 * 1024 * 1024,
  /**
   * Deepest nesting of objects and arrays anywhere in a plan (the plan object is level 1, an
   * item's `inputs` level 4). One limit for every surface (CLI, HTTP, SDK, scheduler), checked
   * without recursion, so a deep plan is refused up front instead of overflowing a recursive
   * step (JSON.stringify, canonicalisation) later.
   */
  maxDepth: 64,
} as const;

export const QUEUE_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * The queue a submitted plan names, read from the plan as submitted (it may be invalid): what a
 * run rejected at acceptance is listed under, as an accepted run is under its plan's queue.
 * `default` when it names none (as `planSchema` reads it); `""` when the plan is not an object or
 * its queue is not a well-formed queue name (nothing made up, nothing unbounded recorded).
 */
export function submittedQueueOf(plan: unknown): string {
  if (typeof plan !== 'object' || plan === null || Array.isArray(plan)) return '';
  const queue = (plan as { queue?: unknown }).queue;
  if (queue === undefined) return 'default';
  return typeof queue === 'string' && QUEUE_NAME_RE.test(queue) ? queue : '';
}
/**
 * Lock names: path-like, no hash-tag braces, no whitespace (and no empty, `.` or `..` segment:
 * checked apart). Any of these characters may come first, as the README's grammar says: a name
 * is only ever part of a Redis key, so `@scope/pkg`, `.cache` or `_tmp` are as safe as `db/main`.
 */
export const LOCK_NAME_RE = /^[A-Za-z0-9._/@+=-]+$/;

export const DEFAULT_EXECUTORS = ['dispatch', 'noop'] as const;

/** Longest `timeoutMs` of an item (and of a task): a week. */
export const ITEM_TIMEOUT_MAX_MS = 7 * 24 * 3600 * 1000;

const itemSchema = z
  .object({
    id: z.string(),
    executor: z.string().min(1, 'executor must not be empty'),
    inputs: z.record(z.string(), z.unknown()).default({}),
    depends_on: z.array(z.string()).default([]),
    resourceLocks: z.array(z.string()).default([]),
    /** Compute target for `dispatch`; overrides the plan's and the task's. */
    target: z.string().min(1).optional(),
    /** 1 (taken first) to 100 (taken last), BullMQ's order; an item without one is taken before any ranked item. */
    priority: z.number().int().min(1, 'priority is 1 (first) to 100 (last)').max(100, 'priority is 1 (first) to 100 (last)').optional(),
    /** Retry policy of this item; each field overrides the task's and the config's. */
    retry: retryPolicySchema.optional(),
    /** Wall-clock limit of one try: the runner stops the executor, a `timeout` failure. Overrides the task's. */
    timeoutMs: z.number().int().positive().max(ITEM_TIMEOUT_MAX_MS).optional(),
    /** Memoize this item (overrides its task's and its queue's `memoize`; `false` wins here). @default the task's, else the queue's, else false */
    memoize: z.boolean().optional(),
  })
  .strict();

export const planSchema = z
  .object({
    id: z.string().min(1, 'plan id must not be empty').max(128),
    queue: z.string().default('default'),
    /** Default compute target for `dispatch` items. */
    target: z.string().min(1).optional(),
    /** Most items of this run running at once, across all runners. @default none: no bound */
    maxParallel: z.number().int().positive().max(PLAN_LIMITS.maxItems).optional(),
    /** Where its items' terminal results go (a name in the config's `resultSinks`); an item's task's wins. @default "stdout" */
    resultSink: z.string().min(1).max(64).optional(),
    items: z.array(itemSchema),
  })
  .strict();

export type Plan = z.infer<typeof planSchema>;
export type PlanItem = Plan['items'][number];
export type PlanInput = z.input<typeof planSchema>;

export interface ValidateOptions {
  /** Executor names the runners know. @default ["dispatch", "noop"] */
  readonly executors?: readonly string[];
  /** Queue names the deployment serves; when set, `plan.queue` must be one of them. */
  readonly queues?: readonly string[];
  /** Target names the config declares; when set, item/plan targets must be one of them. */
  readonly targets?: readonly string[];
  /** Result sink names the config declares (with the built-in `stdout`); when set, `plan.resultSink` must be one of them. */
  readonly resultSinks?: readonly string[];
}

export type ValidationResult =
  | { readonly ok: true; readonly plan: Plan; readonly problems: readonly [] }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * A schema message in the words of JSON: zod says "record" for a JSON object with keys of its
 * choosing (`inputs`, a config's `queues`), which a plan or config author never wrote.
 */
export function plainSchemaWords(message: string): string {
  return message.replace(/\bexpected record\b/, 'expected object');
}

function zodPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out === '' ? 'plan' : out;
}

function lockNameProblem(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > PLAN_LIMITS.maxLockNameLength) return `longer than ${PLAN_LIMITS.maxLockNameLength} characters`;
  if (!LOCK_NAME_RE.test(name)) return 'use letters, digits and . _ / @ + = -';
  if (name.split('/').some((seg) => seg === '..' || seg === '.' || seg === '')) return 'has an empty, "." or ".." path segment';
  return null;
}

/** JSON-path-like label of a place in a plan, for messages: `items[2].inputs.x`. */
function pathLabel(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? 'plan' : out;
}

/**
 * Why a number of a plan cannot be kept as written, or null. JSON numbers arrive as IEEE
 * doubles: `1e400` is already Infinity (RFC 8785 cannot encode it, and JSON.stringify writes
 * null), and an integer beyond 2^53 - 1 has already been rounded (12345678901234567890 arrives as
 * 12345678901234567000), so the item would run, and be sealed, with a value nobody submitted.
 */
export function numberProblem(n: number): string | null {
  if (!Number.isFinite(n)) return 'holds a number JSON cannot carry (too large, or not a number)';
  if (Number.isInteger(n) && !Number.isSafeInteger(n)) return `holds the integer ${n}, beyond ±${Number.MAX_SAFE_INTEGER}: it cannot be kept exactly (send it as a string)`;
  return null;
}

/**
 * Problems of the raw JSON value of a plan that no schema sees, found in one iterative walk (a
 * recursive one is what a deep plan would overflow):
 * - nesting deeper than `PLAN_LIMITS.maxDepth`;
 * - a string or key holding a lone surrogate: RFC 8785 cannot encode it, so a run of such a plan
 *   could never be sealed;
 * - a number that cannot be kept as written (see `numberProblem`);
 * - a `"__proto__"` key: `JSON.parse` keeps it as data, but any copy by assignment (a schema's
 *   output, a spread) turns it into a prototype, so what validates would not be what runs;
 * - a value JSON cannot carry as it is (an SDK caller's object): a bigint, a function, a symbol,
 *   a Map, a Date or another non-plain object.
 * Reports at most 20 problems.
 */
export function planValueProblems(input: unknown, opts: { readonly nameItems?: boolean } = {}): string[] {
  const problems: string[] = [];
  // In a plan, a place under items[i] also names that item by its id, as the schema's problems
  // do ("items[0].inputs.s (item \"a\"): …"); a channel message's own "items" key is not a plan's.
  const placeLabel = (path: readonly (string | number)[]): string => {
    const label = pathLabel(path);
    if (!opts.nameItems || path[0] !== 'items' || typeof path[1] !== 'number') return label;
    const id = (input as { items?: Array<{ id?: unknown } | null> }).items?.[path[1]]?.id;
    return typeof id === 'string' && id.isWellFormed() ? `${label} (item ${JSON.stringify(id)})` : label;
  };
  const stack: Array<{ value: unknown; path: Array<string | number>; depth: number }> = [{ value: input, path: [], depth: 1 }];
  let tooDeep = false;
  while (stack.length > 0 && problems.length < 20) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      if (!value.isWellFormed()) problems.push(`${placeLabel(path)}: holds a lone surrogate (unpaired UTF-16 half), which cannot be sealed`);
      continue;
    }
    if (typeof value === 'number') {
      const problem = numberProblem(value);
      if (problem) problems.push(`${placeLabel(path)}: ${problem}`);
      continue;
    }
    if (typeof value === 'bigint' || typeof value === 'function' || typeof value === 'symbol') {
      // An SDK caller's object: JSON.stringify throws on a bigint (a TypeError, not a problem
      // list) and drops functions and symbols, so the item would run without them.
      problems.push(`${placeLabel(path)}: holds a ${typeof value}, which JSON cannot carry${typeof value === 'bigint' ? ' (send it as a string)' : ''}`);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null && !Array.isArray(value)) {
      // A Map, a Set, a class instance, a Date: JSON writes {} or its toJSON(), not what was given.
      const kind = (value as { constructor?: { name?: unknown } }).constructor?.name;
      problems.push(`${placeLabel(path)}: holds ${typeof kind === 'string' && kind !== '' ? `an object of class ${kind}` : 'an object that is not plain'}, which is not JSON data: use plain objects, arrays, strings, numbers, booleans and null`);
      continue;
    }
    if (depth > PLAN_LIMITS.maxDepth) {
      if (!tooDeep) problems.push(`${placeLabel(path)}: nested deeper than ${PLAN_LIMITS.maxDepth} levels`);
      tooDeep = true;
      continue;
    }
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: [...path, i], depth: depth + 1 });
      continue;
    }
    for (const key of Object.keys(value)) {
      if (key === '__proto__') problems.push(`${placeLabel(path)}: the key "__proto__" is not allowed`);
      else if (!key.isWellFormed()) problems.push(`${placeLabel(path)}: a key holds a lone surrogate, which cannot be sealed`);
      stack.push({ value: (value as Record<string, unknown>)[key], path: [...path, key], depth: depth + 1 });
    }
  }
  return problems;
}

/**
 * Validates a plan and reports every problem, each naming the offending item:
 * `items[2] (verify): depends_on[0]: unknown item "x"`.
 */
export function validatePlan(input: unknown, options: ValidateOptions = {}): ValidationResult {
  const raw = planValueProblems(input, { nameItems: true });
  if (raw.length > 0) return { ok: false, problems: raw };
  const parsed = planSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((iss) => {
      const path = zodPath(iss.path);
      const idx = iss.path[0] === 'items' && typeof iss.path[1] === 'number' ? iss.path[1] : undefined;
      const raw = idx === undefined ? undefined : (input as { items?: Array<{ id?: unknown }> }).items?.[idx]?.id;
      const named = typeof raw === 'string' ? ` (item ${JSON.stringify(raw)})` : '';
      return `${path}${named}: ${plainSchemaWords(iss.message)}`;
    });
    // The item graph is still checked wherever it can be read (ids, dependencies, cycles), so
    // one pass names every problem, not the schema's alone.
    for (const p of graphProblems(lenientItems(input))) if (!problems.includes(p)) problems.push(p);
    return { ok: false, problems };
  }
  const plan = parsed.data;
  const problems: string[] = [];
  const executors = new Set(options.executors ?? DEFAULT_EXECUTORS);
  const where = (i: number): string => `items[${i}] (${JSON.stringify(plan.items[i]?.id)})`;

  if (!QUEUE_NAME_RE.test(plan.queue)) {
    problems.push(`queue: invalid queue name ${JSON.stringify(plan.queue)}: use 1-64 of [a-z0-9_-], starting with a letter or digit`);
  } else if (options.queues && !options.queues.includes(plan.queue)) {
    problems.push(`queue: unknown queue ${JSON.stringify(plan.queue)} (configured: ${options.queues.join(', ')})`);
  }
  if (plan.target !== undefined && options.targets && !options.targets.includes(plan.target)) {
    problems.push(`target: unknown target ${JSON.stringify(plan.target)} (configured: ${options.targets.join(', ') || 'none'})`);
  }
  if (plan.resultSink !== undefined && options.resultSinks && !options.resultSinks.includes(plan.resultSink)) {
    problems.push(`resultSink: unknown result sink ${JSON.stringify(plan.resultSink)} (configured: ${options.resultSinks.join(', ')})`);
  }
  if (plan.items.length === 0) problems.push('items: plan is empty: it has no items');
  if (plan.items.length > PLAN_LIMITS.maxItems) {
    problems.push(`items: plan has ${plan.items.length} items, over the limit of ${PLAN_LIMITS.maxItems}`);
  }

  problems.push(...graphProblems(plan.items));
  plan.items.forEach((item, i) => {
    if (!executors.has(item.executor)) {
      problems.push(`${where(i)}: unknown executor ${JSON.stringify(item.executor)} (known: ${[...executors].sort().join(', ')})`);
    }
    // `subagent` is an alias of `task`: both given, one would be silently ignored.
    if (item.executor === 'dispatch' && Object.hasOwn(item.inputs, 'task') && Object.hasOwn(item.inputs, 'subagent')) {
      problems.push(`${where(i)}: inputs.task and inputs.subagent name the same thing (subagent is an alias): give one`);
    }
    if (item.target !== undefined && options.targets && !options.targets.includes(item.target)) {
      problems.push(`${where(i)}: unknown target ${JSON.stringify(item.target)} (configured: ${options.targets.join(', ') || 'none'})`);
    }
    const inputBytes = Buffer.byteLength(JSON.stringify(item.inputs));
    if (inputBytes > PLAN_LIMITS.maxInputBytes) {
      problems.push(`${where(i)}: inputs are ${inputBytes} bytes, over the limit of ${PLAN_LIMITS.maxInputBytes} bytes`);
    }
    if (item.depends_on.length > PLAN_LIMITS.maxDependencies) {
      problems.push(`${where(i)}: ${item.depends_on.length} dependencies, over the limit of ${PLAN_LIMITS.maxDependencies}`);
    }
    if (item.resourceLocks.length > PLAN_LIMITS.maxLocksPerItem) {
      problems.push(`${where(i)}: ${item.resourceLocks.length} resource locks, over the limit of ${PLAN_LIMITS.maxLocksPerItem}`);
    }
    const seenLocks = new Set<string>();
    item.resourceLocks.forEach((lock, j) => {
      const why = lockNameProblem(lock);
      if (why) problems.push(`${where(i)}: resourceLocks[${j}]: invalid lock name ${JSON.stringify(lock)}: ${why}`);
      if (seenLocks.has(lock)) problems.push(`${where(i)}: resourceLocks[${j}]: ${JSON.stringify(lock)} is listed twice`);
      seenLocks.add(lock);
    });
  });

  return problems.length === 0 ? { ok: true, plan, problems: [] } : { ok: false, problems };
}

/** An item as far as the graph checks need it. */
interface GraphItem {
  readonly id: string;
  readonly depends_on: readonly string[];
}

/**
 * The item graph's problems: ids (valid, not duplicated), dependencies (known, not itself, not
 * listed twice) and a cycle. The cycle is looked for among the edges that point at a known,
 * other item (first use of a duplicated id), so it is reported beside the other problems; an
 * item depending on itself is reported as such, not as a cycle.
 */
function graphProblems(items: ReadonlyArray<GraphItem | undefined>): string[] {
  const problems: string[] = [];
  const where = (i: number): string => `items[${i}] (${JSON.stringify(items[i]?.id)})`;
  const index = new Map<string, number>();
  items.forEach((item, i) => {
    if (!item) return;
    if (!isItemId(item.id)) {
      problems.push(`${where(i)}: invalid item id: use 1-${ITEM_ID_MAX} of [A-Za-z0-9._-], starting with a letter or digit, with no ".."`);
    }
    const first = index.get(item.id);
    if (first !== undefined) problems.push(`${where(i)}: duplicate item id (first used by items[${first}])`);
    else index.set(item.id, i);
  });
  const edges: Array<{ id: string; depends_on: string[] }> = [];
  items.forEach((item, i) => {
    if (!item) return;
    const seenDeps = new Set<string>();
    const kept: string[] = [];
    item.depends_on.forEach((dep, j) => {
      if (dep === item.id) problems.push(`${where(i)}: depends_on[${j}]: item depends on itself`);
      else if (!index.has(dep)) problems.push(`${where(i)}: depends_on[${j}]: unknown item ${JSON.stringify(dep)}`);
      else if (!seenDeps.has(dep)) kept.push(dep);
      if (seenDeps.has(dep)) problems.push(`${where(i)}: depends_on[${j}]: ${JSON.stringify(dep)} is listed twice`);
      seenDeps.add(dep);
    });
    if (index.get(item.id) === i) edges.push({ id: item.id, depends_on: kept });
  });
  const cycle = findCycle({ items: edges });
  if (cycle) problems.push(`cycle: ${cycle.join(' -> ')}`);
  return problems;
}

/**
 * The items of a plan the schema refused, as far as the graph checks can read them: an item
 * with a string id (its string dependencies, the rest ignored); others are left out. Bounded
 * like a plan (`planValueProblems` has checked size and depth already).
 */
function lenientItems(input: unknown): Array<GraphItem | undefined> {
  const items = (input as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) return [];
  return items.slice(0, PLAN_LIMITS.maxItems).map((it: unknown) => {
    if (typeof it !== 'object' || it === null) return undefined;
    const { id, depends_on } = it as { id?: unknown; depends_on?: unknown };
    if (typeof id !== 'string') return undefined;
    return { id, depends_on: Array.isArray(depends_on) ? depends_on.filter((d): d is string => typeof d === 'string') : [] };
  });
}

/** Validates or throws `PlanValidationError` carrying every problem. */
export function assertValidPlan(input: unknown, options: ValidateOptions = {}): Plan {
  const r = validatePlan(input, options);
  if (!r.ok) throw new PlanValidationError(r.problems);
  return r.plan;
}

/**
 * Returns one cycle as a closed path (`[a, b, c, a]`), following `depends_on` edges, or null.
 * Iterative DFS: plans can be deep chains, and recursion would overflow the stack.
 */
export function findCycle(plan: { readonly items: ReadonlyArray<GraphItem> }): string[] | null {
  const deps = new Map(plan.items.map((it) => [it.id, it.depends_on] as const));
  const color = new Map<string, 1 | 2>(); // 1 = on the stack, 2 = finished
  for (const root of deps.keys()) {
    if (color.has(root)) continue;
    const stack: Array<{ id: string; next: number }> = [{ id: root, next: 0 }];
    color.set(root, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const edges = deps.get(top.id) ?? [];
      if (top.next >= edges.length) {
        color.set(top.id, 2);
        stack.pop();
        continue;
      }
      const dep = edges[top.next++]!;
      const c = color.get(dep);
      if (c === 1) {
        const from = stack.findIndex((f) => f.id === dep);
        return [...stack.slice(from).map((f) => f.id), dep];
      }
      if (c === undefined && deps.has(dep)) {
        color.set(dep, 1);
        stack.push({ id: dep, next: 0 });
      }
    }
  }
  return null;
}

function lineCol(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

/** Deepest nesting of the JSON text, counted over brackets outside strings, without parsing. */
function textDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) max = Math.max(max, ++depth);
    else if (c === 125 || c === 93) depth--;
  }
  return max;
}

/**
 * The first key given twice in one object of well-formed JSON text, with where its second use
 * starts, or null. `JSON.parse` keeps the last value in silence, so a plan's `"depends_on"` (or a
 * config's key) written twice would lose the first without a word: such text is refused, as a
 * misspelt key is. One pass over the text (jsonc-parser's visitor), after a depth check.
 */
export function duplicateJsonKey(text: string): { key: string; line: number; column: number } | null {
  // The visitor recurses per level: text deeper than a plan may be is refused for its depth
  // (parsePlanText, validatePlan) before its keys matter, and must not overflow the stack here.
  if (textDepth(text) > PLAN_LIMITS.maxDepth) return null;
  const open: Array<Set<string>> = [];
  let found: { key: string; offset: number } | null = null;
  visitJson(
    text,
    {
      onObjectBegin: () => {
        open.push(new Set());
        return found === null;
      },
      onObjectEnd: () => {
        open.pop();
      },
      onObjectProperty: (key, offset) => {
        const keys = open[open.length - 1];
        if (found !== null || keys === undefined) return;
        if (keys.has(key)) found = { key, offset };
        else keys.add(key);
      },
    },
    { disallowComments: true, allowTrailingComma: false },
  );
  if (found === null) return null;
  const { key, offset } = found as { key: string; offset: number };
  return { key, ...lineCol(text, offset) };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `bytes` as UTF-8 text, or a ValueError naming `source` and where the first byte that is not
 * UTF-8 sits (line and byte offset). Node's own decoding (`readFile(f, 'utf8')`) puts U+FFFD in
 * place of such bytes in silence: a plan or config in Latin-1 would run with its text changed.
 */
export function decodeUtf8(bytes: Uint8Array, source: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    const bad = firstNonUtf8Byte(bytes);
    throw new ValueError(`${source}:${bad.line}: not valid UTF-8: byte 0x${bad.byte} at offset ${bad.offset} (save the file as UTF-8)`);
  }
}

/** Where the first byte that is not UTF-8 sits in `bytes` (which must hold one): offset, line, the byte in hex. */
export function firstNonUtf8Byte(bytes: Uint8Array): { offset: number; line: number; byte: string } {
  // Up to the first U+FFFD that the bytes do not spell (EF BF BD), each character's UTF-8
  // length is its byte length in the input: their sum is the offset of the first bad byte.
  const text = new TextDecoder('utf-8').decode(bytes);
  let offset = 0;
  let line = 1;
  for (const ch of text) {
    if (ch === '\ufffd' && !(bytes[offset] === 0xef && bytes[offset + 1] === 0xbf && bytes[offset + 2] === 0xbd)) break;
    if (ch === '\n') line++;
    offset += Buffer.byteLength(ch);
  }
  return { offset, line, byte: (bytes[offset] ?? 0).toString(16).padStart(2, '0') };
}

/**
 * Parses plan (and config) JSON text strictly, the one parser every surface uses (CLI, HTTP,
 * SDK callers that hold text). `JSON.parse` does the parsing because it keeps a `"__proto__"`
 * key as data (a parser that assigns keys turns it into a prototype, so the validator and the
 * scheduler would see different plans); jsonc-parser is only asked where the first error is, for
 * a message naming its line and column. Text nested deeper than `PLAN_LIMITS.maxDepth` is
 * refused here, before parsing.
 */
export function parsePlanText(text: string, source = 'plan'): unknown {
  // A leading byte order mark (editors on Windows write one) is not JSON but may be ignored
  // (RFC 8259 8.1); the HTTP API's body parser ignores it, so the CLI does too.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (Buffer.byteLength(text) > PLAN_LIMITS.maxPlanBytes) {
    throw new ValueError(`${source}: larger than ${PLAN_LIMITS.maxPlanBytes} bytes`);
  }
  // Nothing but whitespace (an empty file, an empty pipe into `-`): said so, where the parser's
  // word was "1:1: invalid JSON: ValueExpected".
  if (text.trim() === '') throw new ValueError(`${source}: invalid JSON: it is empty (no JSON value in it)`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const errors: ParseError[] = [];
    parseJsonc(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    const first = errors[0];
    if (!first) throw new ValueError(`${source}: invalid JSON: ${(err as Error).message}`);
    const { line, column } = lineCol(text, first.offset);
    throw new ValueError(`${source}:${line}:${column}: invalid JSON: ${printParseErrorCode(first.error)}`);
  }
  if (textDepth(text) > PLAN_LIMITS.maxDepth) {
    throw new ValueError(`${source}: JSON nested deeper than ${PLAN_LIMITS.maxDepth} levels`);
  }
  const dup = duplicateJsonKey(text);
  if (dup !== null) throw new ValueError(`${source}:${dup.line}:${dup.column}: invalid JSON: the key ${JSON.stringify(dup.key)} is given twice in one object (the first value would be ignored)`);
  return value;
}
