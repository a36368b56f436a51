import { ProviderError, ValueError, type ResolvedCredentials } from '@agora/core';

/** The credential kind this provider can resolve `secretRefs` with. */
export const STATIC_SECRETS_KIND = 'static-secrets';

/**
 * Credentials of kind `static-secrets` carry `secrets: Record<ref, value>`: the credential
 * provider already holds the values, this provider only looks refs up. Errors name the env var
 * and the ref, never a value.
 */
export interface StaticSecretsCredentials extends ResolvedCredentials {
  readonly kind: typeof STATIC_SECRETS_KIND;
  readonly secrets: Readonly<Record<string, string>>;
}

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function resolveSecretRefs(
  provider: string,
  secretRefs: Readonly<Record<string, string>> | undefined,
  env: Readonly<Record<string, string>> | undefined,
  credentials: ResolvedCredentials | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  const entries = Object.entries(secretRefs ?? {});
  if (entries.length === 0) return out;
  for (const [name] of entries) {
    if (!ENV_NAME_RE.test(name)) throw new ValueError(`${provider} provider: secretRefs key "${name}" is not a valid environment variable name`);
    if (env && Object.hasOwn(env, name)) {
      throw new ValueError(`${provider} provider: ${name} is set both in env and in secretRefs; a secret must come from one place only`);
    }
  }
  const names = entries.map(([name, ref]) => `${name} (ref "${ref}")`).join(', ');
  // Not retryable: the same credentials resolve the same refs the same way.
  if (!credentials) {
    throw new ProviderError(provider, `cannot resolve secret refs for ${names}: the target has no credentials; give it a credential provider of kind "${STATIC_SECRETS_KIND}"`, {
      retryable: false,
    });
  }
  if (credentials.kind !== STATIC_SECRETS_KIND) {
    throw new ProviderError(provider, `cannot resolve secret refs for ${names}: credentials of kind "${credentials.kind}" cannot resolve secrets here (accepted: "${STATIC_SECRETS_KIND}")`, {
      retryable: false,
    });
  }
  const secrets = credentials['secrets'];
  if (secrets === null || typeof secrets !== 'object') {
    throw new ProviderError(provider, `cannot resolve secret refs for ${names}: "${STATIC_SECRETS_KIND}" credentials carry no "secrets" map`, { retryable: false });
  }
  const map = secrets as Record<string, unknown>;
  for (const [name, ref] of entries) {
    const value = Object.hasOwn(map, ref) ? map[ref] : undefined;
    if (typeof value !== 'string') {
      throw new ProviderError(provider, `secret ref "${ref}" (for ${name}) cannot be resolved by the "${STATIC_SECRETS_KIND}" credentials`, { retryable: false });
    }
    out[name] = value;
  }
  return out;
}
