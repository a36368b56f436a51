import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describeStorageConformance } from '@agora/conformance';
import { S3StorageProvider } from '@agora/storage-s3';
import { startS3rver } from '../../../test/support/s3rver.js';

/**
 * The storage contract against a real S3-protocol server (s3rver); a second provider on the same
 * bucket and prefix is the peer (a runner on another host).
 */
describeStorageConformance('s3', async () => {
  const s3 = await startS3rver(['conformance']);
  const provider = new S3StorageProvider({ bucket: 'conformance', prefix: 'agora/', client: s3.client });
  const peers: S3StorageProvider[] = [];
  return {
    provider,
    peer: () => {
      const p = new S3StorageProvider({ bucket: 'conformance', prefix: 'agora/', client: s3.client });
      peers.push(p);
      return p;
    },
    corruptBlob: async ({ namespace, type, contentHash }, bytes) => {
      await s3.client.send(new PutObjectCommand({ Bucket: 'conformance', Key: `agora/${namespace}/${type}/blobs/${contentHash}`, Body: bytes }));
    },
    close: async () => {
      for (const p of [provider, ...peers]) await p.close();
      await s3.stop();
    },
  };
});
