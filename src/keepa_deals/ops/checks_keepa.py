"""doctor's check of the Keepa access key: set, well-formed, and accepted by Keepa.

The first thing a new user gets wrong.  The key is read from the settings and
checked for its form (64 lower-case letters and digits) without any call (an
unset key is only skipped when no Keepa call is allowed: the dashboard needs
none);
when doctor may call Keepa, the one ``/token`` probe (free) it shares with the
other checks says whether Keepa accepts it: 400 (a bad key) and 402 (no
active plan) are refusals, anything else is Keepa or the network.
"""

from __future__ import annotations

from typing import Any

from keepa_deals.ops.doctor import Check, CheckResult, Context, fail, ok, skipped, warn
from keepa_deals.settings import key_problem

KEY_FIX = ("put your Keepa access key (keepa.com > API access) in KEEPA_API_KEY, in the "
           "environment or .env; for a try without a key: `keepa-deals run --sandbox`")
#: What to do when Keepa refuses the key (doctor and the health alert say the same).
KEY_REFUSED_FIX = ("a 402 means the key has no active Keepa plan (subscribe or renew at "
                   "keepa.com); a 400 that the key is wrong: " + KEY_FIX)


def check_key(ctx: Context) -> CheckResult:
    name = "key"
    secret = ctx.settings.keepa_api_key
    url = ctx.settings.keepa_api_url
    if secret is None and not ctx.keepa:  # the dashboard's cheap mode: it needs no key
        return skipped(name, "KEEPA_API_KEY is not set in this process (no Keepa call made "
                       "here)", api_url=url)
    if secret is None:
        return fail(name, "KEEPA_API_KEY is not set: nothing can be fetched from Keepa",
                    KEY_FIX, api_url=url)
    problem = key_problem(secret.get_secret_value())
    if problem:
        return fail(name, f"KEEPA_API_KEY is malformed: {problem}",
                    "copy the key again, whole (no quotes or spaces); " + KEY_FIX, api_url=url)
    if not ctx.keepa:
        return ok(name, "set and well-formed (Keepa not asked: no Keepa call allowed)",
                  api_url=url)
    probe = ctx.sources.keepa_probe()
    evidence: dict[str, Any] = {"api_url": url}
    if probe is not None:
        status = probe.status
        evidence.update(tokens_left=status.tokens_left, refill_rate=status.refill_rate)
        return ok(name, f"accepted by Keepa ({status.tokens_left} tokens, refill "
                  f"{status.refill_rate}/min)", **evidence)
    error = ctx.sources.errors.get("keepa", "no answer")
    evidence["error"] = error
    if ctx.sources.key_refused:
        return fail(name, f"Keepa refuses the key: {error}",
                    KEY_REFUSED_FIX, **evidence)
    return warn(name, f"could not ask Keepa whether it accepts the key: {error}",
                f"check KEEPA_API_URL ({url}) and this host's network", **evidence)


CHECKS = (Check("key", "a missing, malformed or refused access key", check_key),)
