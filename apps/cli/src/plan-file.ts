import { readFile } from 'node:fs/promises';
import { decodeUtf8, parsePlanText } from '@agora/core';
import { CliError } from './context.js';

/**
 * Reads and parses a plan file ("-" for stdin); malformed JSON names line and column, and so
 * does a byte that is not UTF-8 (exit 2, never decoded to U+FFFD in silence).
 */
export async function readPlanFile(file: string): Promise<unknown> {
  let bytes: Buffer;
  try {
    bytes = file === '-' ? await readStdin() : await readFile(file);
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const source = file === '-' ? '<stdin>' : file;
    return parsePlanText(decodeUtf8(bytes, source), source);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
