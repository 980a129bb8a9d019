// The marketing channel that brought a visitor to the site (shared/journey.py's CHANNELS), read
// once on the landing page from utm_medium/utm_source, else from the referrer. Navigation
// inside the site has no channel: only the landing page view is a touchpoint.
const MEDIUM = {
  cpc: "paid_search",
  ppc: "paid_search",
  sem: "paid_search",
  paid_search: "paid_search",
  paid_social: "paid_social",
  paidsocial: "paid_social",
  social: "organic_social",
  organic_social: "organic_social",
  organic: "organic_search",
  email: "email",
  "e-mail": "email",
  newsletter: "newsletter",
  display: "display",
  banner: "display",
  cpm: "display",
  retargeting: "retargeting",
  remarketing: "retargeting",
  affiliate: "affiliate",
  referral: "referral",
  pr: "pr",
};
const SEARCH = /(^|\.)(google|bing|duckduckgo|yahoo|ecosia|yandex|baidu|qwant|startpage)\./;
const SOCIAL = /(^|\.)(facebook|instagram|linkedin|lnkd|pinterest|tiktok|reddit|youtube|twitter|x|t)\.[a-z.]+$/;

export function landingChannel(href, referrer) {
  const here = new URL(href);
  const medium = (here.searchParams.get("utm_medium") || "").toLowerCase();
  const source = (here.searchParams.get("utm_source") || "").toLowerCase();
  if (medium) {
    const channel = MEDIUM[medium];
    if (channel === "paid_search" && SOCIAL.test(`${source}.com`)) return "paid_social";
    return channel || null;
  }
  if (!referrer) return "direct";
  const from = new URL(referrer).hostname;
  if (from === here.hostname) return null;
  if (SEARCH.test(from)) return "organic_search";
  if (SOCIAL.test(from)) return "organic_social";
  return "referral";
}
