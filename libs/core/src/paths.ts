import path from 'node:path';
import { ValueError } from './errors.js';

/**
 * Joins `segments` under `root` and returns the absolute path, or throws `ValueError` when the
 * result would leave `root` (a `..` segment, an absolute segment, a separator smuggled into an
 * id). Every path built from an id goes through here before any fs call.
 */
export function resolveInside(root: string, ...segments: string[]): string {
  const base = path.resolve(root);
  const full = path.resolve(base, ...segments);
  if (full !== base && !full.startsWith(base + path.sep)) {
    throw new ValueError(`path ${JSON.stringify(segments.join('/'))} leaves its root ${base}`);
  }
  return full;
}
