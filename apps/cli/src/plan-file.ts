import { readFile } from 'node:fs/promises';
import { parsePlanText } from '@agora/core';
import { CliError } from './context.js';

/** Reads and parses a plan file ("-" for stdin); malformed JSON names line and column. */
export async function readPlanFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return parsePlanText(text, file === '-' ? '<stdin>' : file);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
