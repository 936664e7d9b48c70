"""Server-enforced mode on PostgreSQL (docs/server-enforced.md).

``pmdesk server init`` gives the database its own roles: a NOLOGIN owner of schema ``pmdesk``,
a ``…_workstation`` login for the desktop apps and commands, and a ``…_relay`` login for the
server-side relay. ``pmdesk server status`` reports what is in place.

Hardening level 1 (this version): the roles, the schema, and PUBLIC's rights are in place, but
the workstation role may still read and write every pmdesk table; the rules are still enforced
by the client. Later levels move the sign-in into the server (see the design's rollout).
"""
