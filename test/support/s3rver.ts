import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

export interface S3rverHandle {
  readonly client: S3Client;
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** A real S3-protocol server (s3rver) on a free port, data in a fresh temp dir. */
export async function startS3rver(buckets: string[]): Promise<S3rverHandle> {
  const directory = await mkdtemp(join(tmpdir(), 'agora-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, configureBuckets: buckets.map((name) => ({ name })) });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  // s3rver checks SigV4 signatures made with its fixed S3RVER/S3RVER credentials.
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  return {
    client,
    endpoint,
    async stop() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
