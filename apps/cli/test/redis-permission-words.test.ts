import { describe, expect, it } from 'vitest';
import { AgoraError } from '@agora/core';
import { isRedisPermissionError, redisPermissionMessage } from '../src/context.js';

/**
 * A command a script may not run under the caller's Redis user is worded differently by Redis
 * 7.0 and 7.2+; both are a permission the user lacks (exit 3 naming the command), as a NOPERM on
 * a direct command is. Before, the 7.2 wording was not recognised (only 7.0 runs here, so this
 * checks the words Redis 7.2 sends, from its source).
 */
describe('Redis permission refusals', () => {
  const scriptError = (text: string): AgoraError => new AgoraError('SCRIPT', `Redis script cancelRun failed: ${text}`);
  it.each([
    ['a direct command (NOPERM)', new Error("NOPERM User submitter has no permissions to run the 'xadd' command")],
    ['a script on Redis 7.0', scriptError("ERR The user executing the script can't run this command or subcommand script: abc, on @user_script:12.")],
    ['a script on Redis 7.2+', scriptError("ERR ACL failure in script: User submitter has no permissions to run the 'xadd' command script: abc, on @user_script:12.")],
  ])('%s is a permission refusal', (_what, err) => {
    expect(isRedisPermissionError(err)).toBe(true);
  });

  it('names the command Redis 7.2+ names', () => {
    const msg = redisPermissionMessage(scriptError("ERR ACL failure in script: User submitter has no permissions to run the 'xadd' command script: abc"));
    expect(msg).toContain("may not run the 'xadd' command");
  });

  it('is not fooled by other errors, ours or Redis', () => {
    expect(isRedisPermissionError(new AgoraError('CONFIG_INVALID', 'ACL failure in script'))).toBe(false);
    expect(isRedisPermissionError(new Error('ERR wrong number of arguments'))).toBe(false);
  });
});
