import type { AgoraClient } from './client.js';

/**
 * What a service calls, whichever way it reaches Agora: `AgoraClient` over Redis and
 * `AgoraHttpClient` over the dashboard's HTTP API both have these methods, with the same
 * arguments, return types and error classes. Code written against `AgoraApi` runs over either.
 * Taken from `AgoraClient` so the two cannot drift: the HTTP client must implement it.
 */
export type AgoraApi = Pick<AgoraClient, 'submit' | 'status' | 'runs' | 'item' | 'watch' | 'wait' | 'cancel' | 'send' | 'close' | 'rerun' | 'deadLetters' | 'deadLetter' | 'replayDeadLetters' | 'purgeDeadLetters' | 'memoEntries' | 'purgeMemo'>;
