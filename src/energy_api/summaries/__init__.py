"""The summaries: every table derived from the consumptions, and the one way to keep them.

`summaries.service` is the whole public API. Every write of consumption records (the API, bulk
loads, imports, the admin, the command line) wraps its write in `service.changing` (or, when
deleting a client, `service.forgetting_client`); analytics only read the tables; ops check and
repair them with `service.verify` and `service.rebuild` (`energy-api summaries …`).

Exact under concurrency, by this protocol:

- A write names its scope, the (client, month) keys it may change, and holds the locks of those
  clients from before `changing` reads anything until its transaction ends. The summaries' change
  is computed from the consumptions themselves, read under those locks just before and just after
  the write, so no concurrent write can slip between what was read and what is written.
- Locks are taken in one order, everywhere, so two writers never wait on each other in a cycle:
  1. the request's Idempotency-Key lock, when it has one;
  2. client rows, ascending id: `FOR NO KEY UPDATE` to write a client's records, `FOR UPDATE` to
     change or delete the client itself (`clients.service.lock`);
  3. consumption rows, `FOR UPDATE`, only of clients already locked;
  4. the consumptions table, by the write itself (a full rebuild takes it in SHARE mode here);
  5. summary rows, table by table — client_totals, client_trailing_years, flagged_months,
     portfolio_months, portfolio_month_links, flagged_month_counts — each in key order.
- Should the database still report a deadlock or a serialization failure, the request's
  transaction is run again from the start (`energy_api.http.routing`).

On SQLite every writing transaction takes the database's write lock as it begins, which
serialises writers outright.
"""
