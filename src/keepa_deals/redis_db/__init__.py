"""Redis for keepa-deals: one connection helper and one key builder, used by the
budget's store (``budget/redis_store.py``) and the runner lock (``locks/redis_lock.py``).

::

    connection.py   connect(url), describe(client): bounded timeouts; host:port, never a password
    keys.py         KeyBuilder: every key keepa-deals writes, namespaced by the API key's
                    fingerprint (never the key itself)

A leaf: it imports nothing else of keepa_deals but :mod:`keepa_deals.errors`.
"""
