import { ValueError, type CredentialRequest, type ResolvedCredentials } from '@agora/core';

/**
 * The reference a task writes to read a named value of the `static` or `file` provider:
 * `secretRefs: { API_KEY: "secret:API_KEY" }`. Both providers answer the same form, so a target
 * moves from `static` (development) to `file` (production) without touching its tasks.
 */
export const SECRET_REF_PREFIX = 'secret:';

/** A secret's name: what follows `secret:`, a key of `values` or of the file. */
export const SECRET_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Most values one provider holds, and the longest value: inputs are bounded. */
export const MAX_SECRET_VALUES = 1000;
export const MAX_SECRET_VALUE_BYTES = 64 * 1024;

/**
 * The `static-secrets` credentials for the refs a task names, out of `values`. A ref in another
 * form, or naming no value, is a `ValueError` that names the provider and the names it holds
 * (never a value). Without refs, every value is returned.
 */
export function resolveSecretRefs(label: string, values: ReadonlyMap<string, string>, request: CredentialRequest): ResolvedCredentials {
  const secrets: Record<string, string> = {};
  if (request.refs === undefined) {
    for (const [name, v] of values) secrets[`${SECRET_REF_PREFIX}${name}`] = v;
    return { kind: 'static-secrets', secrets };
  }
  for (const ref of request.refs) {
    if (!ref.startsWith(SECRET_REF_PREFIX)) throw new ValueError(`${label}: "${ref}" is not a ${SECRET_REF_PREFIX}NAME reference`);
    const v = values.get(ref.slice(SECRET_REF_PREFIX.length));
    if (v === undefined) throw new ValueError(`${label}: "${ref}" names no value (holds: ${known(values)})`);
    secrets[ref] = v;
  }
  return { kind: 'static-secrets', secrets };
}

function known(values: ReadonlyMap<string, string>): string {
  const names = [...values.keys()].sort();
  if (names.length === 0) return 'none';
  return names.length > 20 ? `${names.slice(0, 20).join(', ')}, … ${names.length - 20} more` : names.join(', ');
}

/** Checks one name/value pair of a secret map; the message names the name, never the value. */
export function checkSecretEntry(label: string, where: string, name: string, value: unknown): string {
  if (!SECRET_NAME_RE.test(name)) throw new ValueError(`${label}: ${where} "${name.slice(0, 130)}" is not a secret name (1-128 of [A-Za-z0-9_.-], not starting with . or -)`);
  if (typeof value !== 'string') throw new ValueError(`${label}: ${where} "${name}" is not a string (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`);
  if (Buffer.byteLength(value) > MAX_SECRET_VALUE_BYTES) throw new ValueError(`${label}: ${where} "${name}" is longer than ${MAX_SECRET_VALUE_BYTES} bytes`);
  return value;
}
