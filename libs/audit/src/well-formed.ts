const nativeIsWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when `s` has no lone surrogate, i.e. it has exactly one UTF-8 encoding. (Node would
 * otherwise encode a lone surrogate as U+FFFD, so two different strings would hash the same.)
 */
export function isWellFormed(s: string): boolean {
  return nativeIsWellFormed ? nativeIsWellFormed.call(s) : !LONE_SURROGATE.test(s);
}
