// Resolving items' result sinks lives in @agora/registry, where the CLI's validate and submit and
// the HTTP API run the same check as the scheduler's acceptance (planDeploymentProblems).
export { resolveResultSinks } from '@agora/registry';
