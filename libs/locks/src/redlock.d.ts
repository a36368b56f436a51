// redlock 5.0.0-beta.2 ships types, but its package.json "exports" hides them from NodeNext
// resolution. This declares the part we use, as published in its dist/index.d.ts.
declare module 'redlock' {
  import type { Redis, Cluster } from 'ioredis';
  import type { EventEmitter } from 'node:events';

  export interface Settings {
    readonly driftFactor: number;
    readonly retryCount: number;
    readonly retryDelay: number;
    readonly retryJitter: number;
    readonly automaticExtensionThreshold: number;
  }
  export class ResourceLockedError extends Error {}
  export class ExecutionError extends Error {}
  export class Lock {
    readonly resources: string[];
    readonly value: string;
    expiration: number;
    release(): Promise<unknown>;
    extend(duration: number): Promise<Lock>;
  }
  export default class Redlock extends EventEmitter {
    constructor(clients: Iterable<Redis | Cluster>, settings?: Partial<Settings>);
    acquire(resources: string[], duration: number, settings?: Partial<Settings>): Promise<Lock>;
    release(lock: Lock, settings?: Partial<Settings>): Promise<unknown>;
    extend(existing: Lock, duration: number, settings?: Partial<Settings>): Promise<Lock>;
    /** The lease value of the next acquisition (a random 16 bytes, hex). */
    protected _random(): string;
  }
}
