"""Organising groups without writing code (issue #17): groups, facilitator links, member
invitations, the members they let in, and the credentials that admit them.

    records      groups, invitations, members and audit entries, as stored and as sent
    store        the storage contract (``OrganiserStore``)
    sqlite_store the embedded default's SQLite file in HUDDLE_DATA_DIR
    redis_store  Redis keys shared by every worker (one ``{organise}`` hash tag)
    credentials  codes, hashes, session credentials and the organiser's cookie
    access       who may connect, and ending access at once on every worker
    api          the JSON HTTP API (an API key, rate-limited; openapi.json)
    console      the /organise console and the pages members see (invitations, errors)
    pages        the HTML those pages are made of
    crisis       crisis lines by locale, for the pages a member in distress may land on

May import chatserver.auth, config, gate's client_address and moderation's policy names;
the service and the backends know nothing of it (the app wires it in)."""
