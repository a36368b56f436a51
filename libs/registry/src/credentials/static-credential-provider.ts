import { z } from 'zod';
import { ValueError, type CredentialProvider, type CredentialRequest, type ProviderHealth, type ResolvedCredentials } from '@agora/core';
import { MAX_SECRET_VALUES, checkSecretEntry, resolveSecretRefs } from './secret-ref.js';

/** Options of the `static` credential provider. */
export const staticCredentialOptionsSchema = z
  .object({
    /** Secret name -> value, read by tasks as `secret:NAME`. Clear text in the config: development only. */
    values: z.record(z.string(), z.unknown()).default({}),
    /**
     * Lets the provider load when NODE_ENV is `production` (the project's image sets it). Values
     * in a config file travel with it (repositories, images, backups), so production refuses them
     * unless this says the operator meant it. @default false
     */
    allowInProduction: z.boolean().default(false),
  })
  .strict();

export type StaticCredentialOptions = z.input<typeof staticCredentialOptionsSchema>;

const LABEL = 'static credentials';

/**
 * Resolves `secret:NAME` refs from values written in the config (`options.values`), for
 * development. Under NODE_ENV=production it refuses to load unless `allowInProduction: true`.
 * The values reach workers through `secretRefs` only: they are never in an error, a health
 * message, a log line or an event, and the compute provider scrubs them from the worker's output.
 */
export class StaticCredentialProvider implements CredentialProvider {
  readonly name = 'static';
  private readonly values: ReadonlyMap<string, string>;
  private readonly inProduction: boolean;

  constructor(options: StaticCredentialOptions | Readonly<Record<string, unknown>> = {}, env: NodeJS.ProcessEnv = process.env) {
    const parsed = staticCredentialOptionsSchema.safeParse(options);
    if (!parsed.success) {
      // Only paths and messages: a zod message never quotes an unknown-typed value.
      throw new ValueError(`${LABEL}: ${parsed.error.issues.map((i) => `options${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`).join('; ')}`);
    }
    this.inProduction = env['NODE_ENV'] === 'production';
    if (this.inProduction && !parsed.data.allowInProduction) {
      throw new ValueError(
        `${LABEL}: refused because NODE_ENV is "production": values written in the config file are for development. ` +
          'Use the file, env or aws credential provider, or set options.allowInProduction: true',
      );
    }
    const entries = Object.entries(parsed.data.values);
    if (entries.length > MAX_SECRET_VALUES) throw new ValueError(`${LABEL}: options.values holds ${entries.length} values; at most ${MAX_SECRET_VALUES}`);
    this.values = new Map(entries.map(([k, v]) => [k, checkSecretEntry(LABEL, 'options.values', k, v)]));
  }

  async resolve(request: CredentialRequest = {}): Promise<ResolvedCredentials> {
    return resolveSecretRefs(LABEL, this.values, request);
  }

  async health(): Promise<ProviderHealth> {
    const where = this.inProduction
      ? 'allowed in production by options.allowInProduction: prefer the file, env or aws provider'
      : 'clear text in the config file: development only';
    return { ok: true, message: `${LABEL}: ${this.values.size} value(s) (${where})`, details: { names: [...this.values.keys()].sort(), inProduction: this.inProduction } };
  }
}
