import type { Plan, StorageProvider } from '@agora/core';

/** The artifact type of accepted plans (`agora://<ns>/plan/<runId>/<sha256>`). */
export const PLAN_ARTIFACT_TYPE = 'plan';

/**
 * Stores the plan a run was accepted with, content-addressed, and returns its pinned URI (the
 * accepted event's `planRef`). The stream keeps only each item's inputs hash (inputs may be large,
 * and are not the record's to copy): this is where the inputs themselves are found again, e.g. by
 * `agora replay`, which checks every item's inputs against the hash sealed for it. The bytes are
 * the validated plan as JSON; a repeat after a resumed acceptance stores the same bytes again.
 */
export async function recordPlan(storage: StorageProvider, namespace: string, runId: string, plan: Plan): Promise<string> {
  // The index is not needed: the pinned URI goes into the run's record.
  const put = await storage.put(`agora://${namespace}/${PLAN_ARTIFACT_TYPE}/${runId}`, Buffer.from(JSON.stringify(plan)), { deferIndex: true });
  return put.uri;
}
