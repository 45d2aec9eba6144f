import type { Middleware } from 'koa';
import { invalidRequest } from '../../errors/oauth-error.js';

/** What a web page's request carries as its Origin: its http(s) origin, or `null` (a sandboxed frame, a data: URL, a redirect). */
const isWebPageOrigin = (origin: string): boolean => origin === 'null' || /^https?:\/\//i.test(origin);

/**
 * `Origin: null` from a page of the issuer's own site: a browser sends it for a same-origin POST
 * when the page's Referrer-Policy is no-referrer (helmet's default), and says where the request
 * comes from in Sec-Fetch-Site, which no page can set.
 */
const isOwnSitesNull = (origin: string, fetchSite: string): boolean => origin === 'null' && fetchSite === 'same-origin';

/**
 * For the OAuth POST routes: refuses a request that a web page of a site not in `allowed` made its
 * visitor's browser send. CORS only keeps such a page from reading the answer: a form-encoded POST
 * is a "simple" request, sent without a preflight and run in full. From another site's page, a
 * password-grant request of a public client counts a failed login against the visitor's IP, and a
 * hundred of them lock that IP (an office's, a carrier's) out of every account. Requests without
 * an Origin (servers, native apps) and from other schemes (a browser extension's) are left alone:
 * no page of another site sends them.
 */
export function refuseOtherSitesPages(allowed: ReadonlySet<string>): Middleware {
  return (ctx, next) => {
    const origin = ctx.get('Origin');
    if (origin !== '' && !allowed.has(origin) && isWebPageOrigin(origin) && !isOwnSitesNull(origin, ctx.get('Sec-Fetch-Site'))) {
      throw invalidRequest('requests from web pages of this origin are not accepted');
    }
    return next();
  };
}
