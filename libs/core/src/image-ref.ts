import { ValueError } from './errors.js';

/** `name[:tag]@sha256:<64 hex>`: the only form an engine cannot resolve to different bytes later. */
const DIGEST_PINNED_RE = /^[^\s@]+@sha256:[0-9a-f]{64}$/;

export function isDigestPinned(image: string): boolean {
  return DIGEST_PINNED_RE.test(image);
}

/** Throws a `ValueError` that says why an unpinned image is refused and how to pin it. */
export function assertDigestPinned(image: string, provider: string): void {
  if (isDigestPinned(image)) return;
  throw new ValueError(
    `${provider} provider: image "${image}" is not digest-pinned; a tag can be moved to different bytes, so ` +
      `only name@sha256:<64 hex digits> is accepted. Pin it with the digest the engine reports ` +
      `(docker image inspect --format '{{index .RepoDigests 0}}' <image>, or podman image inspect --format '{{.Digest}}' <image>), ` +
      `or build the provider with allowUnpinnedImage: true for development`,
  );
}
