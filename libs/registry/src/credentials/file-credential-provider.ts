import { open } from 'node:fs/promises';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import {
  ValueError,
  coerceError,
  type CredentialProvider,
  type CredentialRequest,
  type ProviderFactoryContext,
  type ProviderHealth,
  type ResolvedCredentials,
} from '@agora/core';
import { MAX_SECRET_VALUES, SECRET_NAME_RE, checkSecretEntry, resolveSecretRefs } from './secret-ref.js';

/** Options of the `file` credential provider. */
export const fileCredentialOptionsSchema = z
  .object({
    /** The secrets file; relative to the config file's directory. */
    path: z.string().min(1).max(4096),
    /** `json` (an object of string values) or `dotenv` (NAME=value lines). @default by extension: `.json` is json, anything else dotenv */
    format: z.enum(['json', 'dotenv']).optional(),
    /** Names `agora doctor` (and `/readyz`) require the file to hold. @default [] */
    required: z.array(z.string().regex(SECRET_NAME_RE, 'not a secret name')).max(MAX_SECRET_VALUES).default([]),
  })
  .strict();

export type FileCredentialOptions = z.input<typeof fileCredentialOptionsSchema>;

/** A secrets file larger than this is refused: it is read whole on every resolve. */
export const MAX_SECRETS_FILE_BYTES = 1024 * 1024;

const LABEL = 'file credentials';

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/** What one read of the file found; `values` only when every check passed. */
interface FileRead {
  readonly mode: number;
  readonly values: ReadonlyMap<string, string>;
}

/**
 * Resolves `secret:NAME` refs from a JSON or dotenv file, the way ssh treats a private key: the
 * file must be owned by this process's user and give group and others no access at all
 * (`mode & 0o077 == 0`, e.g. 0600 or 0400), else it is refused naming its mode. The file is
 * read on every resolve (one per dispatched item of the target), so a rotated secret is used by
 * the next item without a restart, and the checks apply to the file as it is now.
 */
export class FileCredentialProvider implements CredentialProvider {
  readonly name = 'file';
  readonly path: string;
  private readonly format: 'json' | 'dotenv';
  private readonly required: readonly string[];

  constructor(options: FileCredentialOptions | Readonly<Record<string, unknown>>, ctx: Pick<ProviderFactoryContext, 'configDir'>) {
    const parsed = fileCredentialOptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new ValueError(`${LABEL}: ${parsed.error.issues.map((i) => `options${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`).join('; ')}`);
    }
    this.path = path.resolve(ctx.configDir, parsed.data.path);
    this.format = parsed.data.format ?? (this.path.toLowerCase().endsWith('.json') ? 'json' : 'dotenv');
    this.required = parsed.data.required;
  }

  /** Opens, checks (owner, mode, size, on the opened file: no swap between check and read) and parses. */
  private async read(): Promise<FileRead> {
    let fh;
    try {
      fh = await open(this.path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ValueError(`${LABEL}: ${this.path} ${code === 'ENOENT' ? 'does not exist' : `cannot be opened (${code ?? coerceError(err).message})`}`);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new ValueError(`${LABEL}: ${this.path} is not a regular file`);
      const uid = process.getuid?.();
      if (uid !== undefined && st.uid !== uid) {
        throw new ValueError(`${LABEL}: ${this.path} is owned by uid ${st.uid}, not by this process's uid ${uid}; chown it to the user Agora runs as`);
      }
      if ((st.mode & 0o077) !== 0) {
        throw new ValueError(`${LABEL}: ${this.path} has mode ${octal(st.mode)}, which gives group or others access; run chmod 600 ${this.path}`);
      }
      if (st.size > MAX_SECRETS_FILE_BYTES) throw new ValueError(`${LABEL}: ${this.path} is ${st.size} bytes; at most ${MAX_SECRETS_FILE_BYTES}`);
      const text = await fh.readFile({ encoding: 'utf8' });
      return { mode: st.mode, values: this.parse(text) };
    } finally {
      await fh.close();
    }
  }

  private parse(text: string): ReadonlyMap<string, string> {
    let raw: Record<string, unknown>;
    if (this.format === 'json') {
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        // JSON.parse's message quotes the text around the error: that is secret material.
        throw new ValueError(`${LABEL}: ${this.path} is not valid JSON`);
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ValueError(`${LABEL}: ${this.path} must hold a JSON object of name: "value" pairs`);
      raw = v as Record<string, unknown>;
    } else {
      raw = parseEnv(text) as Record<string, unknown>;
    }
    const entries = Object.entries(raw);
    if (entries.length > MAX_SECRET_VALUES) throw new ValueError(`${LABEL}: ${this.path} holds ${entries.length} values; at most ${MAX_SECRET_VALUES}`);
    return new Map(entries.map(([k, v]) => [k, checkSecretEntry(LABEL, this.path, k, v)]));
  }

  async resolve(request: CredentialRequest = {}): Promise<ResolvedCredentials> {
    return resolveSecretRefs(LABEL, (await this.read()).values, request);
  }

  async health(): Promise<ProviderHealth> {
    let got: FileRead;
    try {
      got = await this.read();
    } catch (err) {
      return { ok: false, message: coerceError(err).message, details: { path: this.path } };
    }
    const missing = this.required.filter((n) => !got.values.has(n));
    const details = { path: this.path, mode: octal(got.mode), format: this.format };
    if (missing.length > 0) return { ok: false, message: `${LABEL}: ${this.path} lacks required value(s): ${missing.join(', ')}`, details };
    return { ok: true, message: `${LABEL}: ${this.path} (mode ${octal(got.mode)}, ${this.format}) holds ${got.values.size} value(s)`, details };
  }
}
