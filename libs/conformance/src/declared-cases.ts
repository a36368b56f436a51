import { ValueError } from '@agora/core';

/** One case of a conformance suite: what it proves, and whether a provider may opt out of it. */
export interface CaseInfo {
  readonly required: boolean;
  readonly proves: string;
}

/**
 * Checks a provider's declaration of the cases it cannot run: each a known case, not a required
 * one, with its reason. Throws while the suite is being collected, so a bad declaration fails
 * the file instead of quietly running less.
 */
export function checkUnsupported<C extends string>(suite: string, cases: Readonly<Record<C, CaseInfo>>, unsupported: Readonly<Partial<Record<string, string>>>): Map<C, string> {
  const out = new Map<C, string>();
  const problems: string[] = [];
  for (const [c, reason] of Object.entries(unsupported)) {
    if (!Object.hasOwn(cases, c)) problems.push(`"${c}" is not a ${suite} case (cases: ${Object.keys(cases).join(', ')})`);
    else if (cases[c as C].required) problems.push(`"${c}" is required of every ${suite} provider and cannot be declared unsupported`);
    else if (typeof reason !== 'string' || reason.trim() === '') problems.push(`"${c}" is declared unsupported without a reason`);
    else out.set(c as C, reason);
  }
  if (problems.length > 0) throw new ValueError(`${suite} conformance: bad declaration of unsupported cases:\n  ${problems.join('\n  ')}`);
  return out;
}

/** The title of the test that states a provider's declaration (it shows in every report). */
export function declarationTitle<C extends string>(unsupported: ReadonlyMap<C, string>, total: number): string {
  if (unsupported.size === 0) return `runs all ${total} cases (declares none unsupported)`;
  const list = [...unsupported].map(([c, why]) => `${c} (${why})`).join('; ');
  return `runs ${total - unsupported.size} of ${total} cases; declares unsupported: ${list}`;
}
