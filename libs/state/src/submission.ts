import { z } from 'zod';
import { ValueError, isItemId, isRunId } from '@agora/core';

/**
 * What `AgoraClient.submit` puts on the inbox queue. The inbox is a trust boundary: anyone who
 * can add a job to it (through Redis, or a writable Bull Board) chooses this data, and the run id
 * becomes Redis keys, BullMQ job ids and file paths. The scheduler parses every inbox job with
 * this schema before it writes anything; the plan itself is then checked by `validatePlan`.
 */
export const submissionSchema = z
  .object({
    runId: z.string().refine(isRunId, 'must be 1-64 of [A-Za-z0-9_-], starting with a letter or digit'),
    plan: z.unknown(),
    submittedAt: z.iso.datetime({ offset: true }),
    /**
     * Only for a replay of dead letters (an admin's `agora dlq replay`): the original run, the
     * items run again, and the stand-ins' results (dependency id -> the resultRef it had in the
     * original run). The scheduler checks every one against the original run's record before it
     * accepts the plan, so this cannot hand an item a result the original run did not produce.
     */
    replay: z
      .object({
        runId: z.string().refine(isRunId, 'invalid run id'),
        items: z.array(z.string().refine(isItemId, 'invalid item id')).min(1).max(200_000),
        given: z.record(z.string().refine(isItemId, 'invalid item id'), z.string().min(1).max(2048)),
      })
      .strict()
      .optional(),
    /**
     * Only for a rerun (`agora rerun`): the run to run again. The plan is then the original's, as
     * it was accepted (the scheduler reads it back from storage; the submitted `plan` is ignored),
     * and what the new run reuses is decided from the original's record, never from this data.
     */
    rerun: z
      .object({
        runId: z.string().refine(isRunId, 'invalid run id'),
        fromFailed: z.boolean(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type SubmissionData = z.infer<typeof submissionSchema>;

/** Problems of an inbox job's data, each naming its field; empty when it is a submission. */
export function submissionProblems(data: unknown): string[] {
  const r = submissionSchema.safeParse(data);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.') || 'data'}: ${i.message}`);
}

export function parseSubmission(data: unknown): SubmissionData {
  const r = submissionSchema.safeParse(data);
  if (!r.success) throw new ValueError(`inbox job refused: ${submissionProblems(data).join('; ')}`);
  return r.data;
}
