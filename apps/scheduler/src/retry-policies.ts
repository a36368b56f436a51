// The retry levels and the merged-policy check live in @agora/registry, where the CLI's validate
// and submit and the HTTP API run the same check as the scheduler's acceptance.
export { resolveRetryPolicies, retryLevels, retryPolicyProblems, type RetryLevels } from '@agora/registry';
