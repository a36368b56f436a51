import { ValueError } from './errors.js';

/**
 * What an object must have to serve as a provider of one kind, checked at runtime when the
 * object comes from outside the type checker (a third-party package named in the config).
 * Built-in providers are checked by `tsc`; a package compiled against another version of the
 * interfaces, or written in plain JavaScript, is not, so its object is checked here before
 * anything calls it.
 */
export interface ProviderContract {
  /** Members that must be functions. */
  readonly methods: readonly string[];
  /** Members that must be non-empty strings. @default [] */
  readonly strings?: readonly string[];
  /** Members that, when present, must be functions. @default [] */
  readonly optionalMethods?: readonly string[];
}

/**
 * The contract of each provider kind, keyed by the kind's name in the registry. A helper that
 * adds a kind declares its contract with `defineProviderContract` next to the kind's interface,
 * so package-loaded providers of that kind are checked the same way.
 */
const contracts = new Map<string, ProviderContract>([
  ['compute', { strings: ['name'], methods: ['run', 'awaitExit'], optionalMethods: ['cancel', 'health'] }],
  ['storage', { strings: ['name'], methods: ['put', 'get', 'resolveLatest', 'list', 'resolveByHash'], optionalMethods: ['listNames', 'health', 'flush'] }],
  ['credentials', { strings: ['name'], methods: ['resolve'], optionalMethods: ['health'] }],
  ['resultSink', { methods: ['collect'], optionalMethods: ['health'] }],
  ['notification', { strings: ['name'], methods: ['notify'], optionalMethods: ['health'] }],
  ['channel', { strings: ['name'], methods: ['subscribe'], optionalMethods: ['health'] }],
  ['fleet', { strings: ['name'], methods: ['health', 'start', 'stop', 'scale', 'status', 'list'] }],
]);

/** Declares (or replaces) the runtime contract of a provider kind. */
export function defineProviderContract(kind: string, contract: ProviderContract): void {
  contracts.set(kind, contract);
}

export function providerContract(kind: string): ProviderContract | undefined {
  return contracts.get(kind);
}

function describe(c: ProviderContract): string {
  const need = [...(c.strings ?? []).map((s) => `${s} (string)`), ...c.methods.map((m) => `${m}()`)].join(', ');
  const opt = (c.optionalMethods ?? []).map((m) => `${m}()`).join(', ');
  return opt ? `${need}; optional: ${opt}` : need;
}

/**
 * Throws a `ValueError` naming every member `value` lacks for `kind` (and what the kind needs),
 * so a third-party package that is half-written fails at load, not at its first item.
 * `origin` says where the object came from ("package:@acme/x").
 */
export function checkProviderContract(kind: string, value: unknown, origin: string): void {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) {
    throw new ValueError(`${kind} provider from ${origin}: createProvider returned ${value === null ? 'null' : typeof value}, not a provider object`);
  }
  const c = contracts.get(kind);
  if (!c) return; // a kind with no declared contract: the object is all that can be checked
  const v = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const s of c.strings ?? []) if (typeof v[s] !== 'string' || v[s] === '') problems.push(`${s} is ${v[s] === undefined ? 'missing' : `not a non-empty string (${typeof v[s]})`}`);
  for (const m of c.methods) if (typeof v[m] !== 'function') problems.push(`${m}() is ${v[m] === undefined ? 'missing' : `not a function (${typeof v[m]})`}`);
  for (const m of c.optionalMethods ?? []) if (v[m] !== undefined && typeof v[m] !== 'function') problems.push(`${m} is not a function (${typeof v[m]})`);
  if (problems.length > 0) {
    throw new ValueError(`${kind} provider from ${origin} does not implement the ${kind} contract: ${problems.join('; ')} (a ${kind} provider has: ${describe(c)})`);
  }
}
