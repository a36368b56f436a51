import type { NextFunction, Request, RequestHandler, Response } from 'express';

/** Methods that change nothing; every other method is treated as state-changing. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Host names a loopback listener answers to. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** `name[:port]` of a Host header, lower-cased; IPv6 literals keep their brackets. */
function splitHost(hostHeader: string): { name: string; port: string | undefined } {
  const h = hostHeader.trim().toLowerCase();
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(h);
  return m ? { name: m[1]!, port: m[2] } : { name: h, port: undefined };
}

/**
 * The Host allowlist. A browser tricked by DNS rebinding sends the attacker's host name in Host,
 * so a loopback dashboard only answers to the loopback names with its own port (a browser omits
 * the port only for 80) plus `allowedHosts`: an entry `name` allows that name on any port,
 * `name:port` that pair only. 421 otherwise, before any authentication or route.
 */
export function checkHost(opts: { readonly loopback: boolean; readonly port: () => number; readonly allowedHosts: readonly string[] }): RequestHandler {
  const allowed = opts.allowedHosts.map((h) => splitHost(h));
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!opts.loopback && allowed.length === 0) return next();
    const { name, port } = splitHost(req.get('host') ?? '');
    const own = String(opts.port());
    const ok =
      (opts.loopback && LOOPBACK_NAMES.includes(name) && (port === own || (port === undefined && own === '80'))) ||
      allowed.some((a) => a.name === name && (a.port === undefined || a.port === (port ?? '80')));
    if (ok) return next();
    res.status(421).json({
      error: 'misdirected',
      message: 'this dashboard does not answer to that Host; add the name to dashboard.allowedHosts if it is yours',
    });
  };
}

/**
 * Refuses a state-changing request a browser sent on behalf of another origin: `Sec-Fetch-Site`
 * other than `same-origin`/`none`, or an `Origin` other than this server's. A page elsewhere can
 * make the browser send a form POST or a no-cors fetch, with any basic-auth login the browser has
 * cached; it cannot remove these headers. Clients that are not browsers send neither and pass.
 */
export function refuseCrossSite(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (SAFE_METHODS.has(req.method)) return next();
    const site = req.get('sec-fetch-site');
    const origin = req.get('origin');
    const host = req.get('host');
    // Behind a TLS-terminating proxy the page's origin is https:// while this server speaks http.
    const ownOrigins = host === undefined ? [] : [`http://${host}`, `https://${host}`].map((o) => o.toLowerCase());
    const crossSite = site !== undefined && site !== 'same-origin' && site !== 'none';
    const foreignOrigin = origin !== undefined && !ownOrigins.includes(origin.toLowerCase());
    if (!crossSite && !foreignOrigin) return next();
    res.status(403).json({ error: 'forbidden', message: 'cross-origin request refused: state-changing requests must come from the dashboard itself or a non-browser client' });
  };
}

/**
 * 415 unless a POST says `Content-Type: application/json`. A page elsewhere can send only
 * text/plain, urlencoded or multipart bodies (or none) without a CORS preflight, which this
 * server never grants; requiring JSON closes that door even for a browser that sends no Origin.
 */
export function requireJsonBody(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method !== 'POST') return next();
    const type = (req.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type === 'application/json') return next();
    res.status(415).json({ error: 'unsupported_media_type', message: 'POST bodies must be sent as "Content-Type: application/json"' });
  };
}

/**
 * Whether a request carries a body: a chunked one, or a Content-Length above 0. Bull Board's page
 * sends its PUTs (pause, resume, retry, clean, promote…) with neither, and no content type.
 */
function sendsBody(req: Request): boolean {
  const length = req.get('content-length');
  return req.get('transfer-encoding') !== undefined || (length !== undefined && length.trim() !== '0');
}

/**
 * 415 for a write to Bull Board (the admin board's API) that carries a body other than
 * `application/json`; a write without a body passes, whatever its content type says. Bull Board's
 * own parser skipped such a body unread, so the route ran as if sent `{}` (a form POST to
 * `…/add` added a job with no name and no data).
 */
export function requireJsonBodyIfAny(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (SAFE_METHODS.has(req.method) || !sendsBody(req)) return next();
    const type = (req.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type === 'application/json') return next();
    res.status(415).json({ error: 'unsupported_media_type', message: 'Bull Board request bodies must be sent as "Content-Type: application/json" (or left out)' });
  };
}
