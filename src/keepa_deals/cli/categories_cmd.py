"""``keepa-deals categories``: find Keepa category ids by name, and show the cached tree.

``categories search TEXT`` asks Keepa's ``/search?type=category`` (1 token,
through the shared budget), caches what it found in the deal store (query
files may then name those categories without another search) and prints
``id  name  (parent)``; ``--domain`` picks the marketplace (1 amazon.com, 2
amazon.co.uk, 3 amazon.de, ...).  ``categories cached`` prints what the cache
holds, without a call.  ``--json`` on both.  Exit 2 on an error, 1 when the
search found nothing.
"""

from __future__ import annotations

import click

from keepa_deals.cli._app import AppContext, app, emit_json, pass_app


@app.group("categories")
def categories_group() -> None:
    """Keepa's categories: find ids by name."""


@categories_group.command("search")
@click.argument("text")
@click.option("--domain", type=int, default=1, show_default=True,
              help="Keepa domain id (1 amazon.com, 2 amazon.co.uk, 3 amazon.de, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def search_command(obj: AppContext, text: str, domain: int, as_json: bool) -> None:
    """Categories whose name holds every word of TEXT (1 token; cached)."""
    from keepa_deals.ingest import open_env
    from keepa_deals.ingest.categories import cached_categories, search_categories

    with open_env(obj.settings) as env:  # a KeepaDealsError: one line, from the root group
        found = search_categories(env.client, env.store, domain, text)
        names = {k: v[0] for k, v in cached_categories(env.store, domain).items()}
    rows = [{"id": c.cat_id, "name": c.name, "parent": c.parent,
             "parent_name": names.get(c.parent) if c.parent else None} for c in found]
    if as_json:
        emit_json({"domain": domain, "term": text, "categories": rows})
    else:
        for r in rows:
            parent = f"  (in {r['parent_name'] or r['parent']})" if r["parent"] else ""
            click.echo(f"{r['id']:>14}  {r['name']}{parent}")
        if not rows:
            click.echo(f"no category of domain {domain} matches {text!r}", err=True)
    if not rows:
        raise SystemExit(1)


@categories_group.command("cached")
@click.option("--domain", type=int, default=1, show_default=True, help="Keepa domain id.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def cached_command(obj: AppContext, domain: int, as_json: bool) -> None:
    """The categories the deal store has cached (no Keepa call)."""
    from keepa_deals.ingest.categories import cached_categories
    from keepa_deals.store import DealStore

    with DealStore.open(obj.settings) as store:
        cats = cached_categories(store, domain)
    rows = [{"id": k, "name": n, "parent": p} for k, (n, p) in sorted(cats.items(),
                                                                     key=lambda kv: kv[1][0])]
    if as_json:
        emit_json({"domain": domain, "categories": rows})
    else:
        for r in rows:
            click.echo(f"{r['id']:>14}  {r['name']}")
