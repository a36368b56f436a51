import { z } from 'zod';
import { fromEnv } from '@aws-sdk/credential-provider-env';
import { fromHttp } from '@aws-sdk/credential-provider-http';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { fromTokenFile } from '@aws-sdk/credential-provider-web-identity';
import { fromContainerMetadata, fromInstanceMetadata } from '@smithy/credential-provider-imds';
import { ProviderError, ValueError, coerceError, type CredentialProvider, type CredentialRequest, type ProviderHealth, type ResolvedCredentials } from '@agora/core';

/** The credential kind this provider resolves. */
export const AWS_STS_KIND = 'aws-sts';

/** `aws-sts` credentials: what an AWS SDK client or a worker's AWS_* variables need. */
export interface AwsStsCredentials extends ResolvedCredentials {
  readonly kind: typeof AWS_STS_KIND;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** ISO-8601; absent for long-lived keys. */
  readonly expiration?: string;
  /** The link of the chain that answered (`AwsChainLink`). */
  readonly source: AwsChainLink;
}

/** Options of the `aws` credential provider. */
export const awsCredentialOptionsSchema = z
  .object({
    /** Profile of the shared config files; as AWS_PROFILE, it makes the chain skip the env link. @default AWS_PROFILE, else "default" */
    profile: z.string().regex(/^[A-Za-z0-9_.+@-]{1,128}$/, 'not a profile name').optional(),
    /**
     * Longest wait for one link (IMDS, the ECS endpoint, STS for web identity). A runner off AWS
     * would otherwise wait on IMDS's address for the SDK's default retries. @default 2000
     */
    linkTimeoutMs: z.number().int().min(100).max(60_000).default(2000),
  })
  .strict();

export type AwsCredentialOptions = z.input<typeof awsCredentialOptionsSchema>;

/** The links of the AWS default credential chain, in the order the SDK tries them. */
export type AwsChainLink = 'env' | 'shared-ini' | 'web-identity' | 'ecs-container' | 'imds';

const LINK_NAMES: Readonly<Record<AwsChainLink, string>> = {
  env: 'env',
  'shared-ini': 'shared ini profile',
  'web-identity': 'web identity',
  'ecs-container': 'ECS container',
  imds: 'IMDS',
};

interface Identity {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
  readonly expiration?: Date | undefined;
}

interface Link {
  readonly id: AwsChainLink;
  /** Why the link does not apply here (a variable not set), without asking anything. */
  skip(): string | undefined;
  fetch(): Promise<Identity>;
}

/** One link tried and why it gave no credentials. */
export interface ChainAttempt {
  readonly link: AwsChainLink;
  readonly reason: string;
}

/** Raised when no link answers; carries every link tried. */
export class NoAwsCredentialsError extends ProviderError {
  constructor(
    readonly tried: readonly ChainAttempt[],
    retryable: boolean,
  ) {
    super('aws', `no AWS credentials found; tried: ${tried.map((t) => `${LINK_NAMES[t.link]} (${t.reason})`).join('; ')}`, { retryable });
  }
}

const set = (name: string): boolean => (process.env[name] ?? '') !== '';

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LinkTimeout(ms)), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

class LinkTimeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

/** An SDK message, on one line and bounded (a message quotes no key; this keeps it short). */
function reasonOf(err: unknown): string {
  return coerceError(err).message.replace(/\s+/g, ' ').trim().slice(0, 200);
}

/** Credentials are refreshed this long before they expire. */
const REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;
/** Long-lived keys (no expiration) are looked up again after this long, so a rotated key is seen. */
const LONG_LIVED_CACHE_MS = 5 * 60_000;

/**
 * Resolves AWS credentials through the AWS default credential chain, link by link, so that
 * `health()` can say which link answered or, when none did, what each one lacked: env
 * (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), the shared ini profile (~/.aws/credentials and
 * ~/.aws/config, including SSO, credential_process and role profiles), web identity
 * (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN), the ECS container endpoint
 * (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI) and IMDS (EC2 instance metadata; off with
 * AWS_EC2_METADATA_DISABLED=true). Every link is bounded by `linkTimeoutMs`.
 *
 * The resolved kind is `aws-sts`. The provider resolves no `secretRefs` itself: a compute
 * provider that accepts `aws-sts` resolves its refs (Secrets Manager ARNs) with them.
 */
export class AwsCredentialProvider implements CredentialProvider {
  readonly name = 'aws';
  private readonly opts: z.output<typeof awsCredentialOptionsSchema>;
  private cached: { creds: AwsStsCredentials; until: number } | undefined;
  private inflight: Promise<AwsStsCredentials> | undefined;

  constructor(options: AwsCredentialOptions | Readonly<Record<string, unknown>> = {}) {
    const parsed = awsCredentialOptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new ValueError(`aws credentials: ${parsed.error.issues.map((i) => `options${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`).join('; ')}`);
    }
    this.opts = parsed.data;
  }

  /** The links in the SDK's order, each reading the environment as it is now. */
  private links(): Link[] {
    const timeout = this.opts.linkTimeoutMs;
    const profile = this.opts.profile ?? process.env['AWS_PROFILE'];
    return [
      {
        id: 'env',
        skip: () => {
          // As the SDK's chain: a named profile wins over keys in the environment.
          if (profile) return `skipped: profile "${profile}" is set`;
          if (!set('AWS_ACCESS_KEY_ID') && !set('AWS_SECRET_ACCESS_KEY')) return 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set';
          if (!set('AWS_SECRET_ACCESS_KEY')) return 'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not';
          if (!set('AWS_ACCESS_KEY_ID')) return 'AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not';
          return undefined;
        },
        fetch: () => fromEnv()(),
      },
      {
        id: 'shared-ini',
        skip: () => undefined,
        // ignoreCache: the files are read again on every lookup (a profile added later is found).
        fetch: () => fromIni({ ...(profile ? { profile } : {}), ignoreCache: true })(),
      },
      {
        id: 'web-identity',
        skip: () => (set('AWS_WEB_IDENTITY_TOKEN_FILE') ? (set('AWS_ROLE_ARN') ? undefined : 'AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not') : 'AWS_WEB_IDENTITY_TOKEN_FILE is not set'),
        fetch: () => fromTokenFile()(),
      },
      {
        id: 'ecs-container',
        skip: () => (set('AWS_CONTAINER_CREDENTIALS_RELATIVE_URI') || set('AWS_CONTAINER_CREDENTIALS_FULL_URI') ? undefined : 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set'),
        fetch: async () => {
          try {
            return await fromHttp({ timeout, maxRetries: 0 })();
          } catch {
            // As the SDK's chain: the older container endpoint reader is the fallback.
            return await fromContainerMetadata({ timeout, maxRetries: 0 })();
          }
        },
      },
      {
        id: 'imds',
        skip: () => {
          const v = process.env['AWS_EC2_METADATA_DISABLED'];
          return v !== undefined && v !== '' && v.toLowerCase() !== 'false' ? 'disabled by AWS_EC2_METADATA_DISABLED' : undefined;
        },
        fetch: () => fromInstanceMetadata({ timeout, maxRetries: 0 })(),
      },
    ];
  }

  /** Walks the chain once; the first link that answers wins. */
  async lookup(): Promise<{ creds: AwsStsCredentials; tried: ChainAttempt[] }> {
    const tried: ChainAttempt[] = [];
    let timedOut = false;
    for (const link of this.links()) {
      const skipped = link.skip();
      if (skipped !== undefined) {
        tried.push({ link: link.id, reason: skipped });
        continue;
      }
      try {
        const id = await withTimeout(link.fetch(), this.opts.linkTimeoutMs);
        if (!id.accessKeyId || !id.secretAccessKey) throw new Error('answered with empty credentials');
        const creds: AwsStsCredentials = {
          kind: AWS_STS_KIND,
          accessKeyId: id.accessKeyId,
          secretAccessKey: id.secretAccessKey,
          ...(id.sessionToken ? { sessionToken: id.sessionToken } : {}),
          ...(id.expiration ? { expiration: id.expiration.toISOString() } : {}),
          source: link.id,
        };
        return { creds, tried };
      } catch (err) {
        if (err instanceof LinkTimeout) timedOut = true;
        tried.push({ link: link.id, reason: reasonOf(err) });
      }
    }
    // A link that timed out may answer next time (IMDS under load); a chain of absent settings will not.
    throw new NoAwsCredentialsError(tried, timedOut);
  }

  /** `aws-sts` credentials, cached until 5 minutes before they expire. */
  async resolve(_request: CredentialRequest = {}): Promise<ResolvedCredentials> {
    const now = Date.now();
    if (this.cached && now < this.cached.until) return this.cached.creds;
    this.inflight ??= this.lookup()
      .then(({ creds }) => {
        const expires = creds.expiration ? Date.parse(creds.expiration) - REFRESH_BEFORE_EXPIRY_MS : Infinity;
        this.cached = { creds, until: Math.min(expires, Date.now() + LONG_LIVED_CACHE_MS) };
        return creds;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  /** Walks the chain afresh: names the link that answers, or every link tried and what it lacked. */
  async health(): Promise<ProviderHealth> {
    try {
      const { creds, tried } = await this.lookup();
      const expiry = creds.expiration ? `, expiring ${creds.expiration}` : '';
      const profile = creds.source === 'shared-ini' ? ` "${this.opts.profile ?? process.env['AWS_PROFILE'] ?? 'default'}"` : '';
      return {
        ok: true,
        message: `aws credentials: answered by the ${LINK_NAMES[creds.source]}${profile} link${expiry}`,
        details: { link: creds.source, tried },
      };
    } catch (err) {
      if (err instanceof NoAwsCredentialsError) return { ok: false, message: `aws credentials: ${err.message}`, details: { tried: err.tried } };
      return { ok: false, message: `aws credentials: ${reasonOf(err)}` };
    }
  }
}
