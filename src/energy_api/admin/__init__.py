"""The back office in the browser at /admin: sqladmin, on our users, roles and services.

- `site`: builds the sqladmin `Admin`, mounts it with its own session cookie, CSRF check and
  Content-Security-Policy, and serves its assets from the package (no CDN).
- `access`: who is logged in (a signed session cookie checked against `users` on every click)
  and what their role lets them do.
- `database`: the sessions the admin reads with, and the one transaction each write runs in.
- `views` and `forms`: clients, consumptions and users. Every write goes through the domain
  services (`clients.service`, `consumptions.service`, `auth.service`), never through
  sqladmin's own ORM writes, so document check digits, the month rule, the summaries and the
  last-admin rule hold here exactly as on the API.
"""

from energy_api.admin.site import install_admin

__all__ = ["install_admin"]
