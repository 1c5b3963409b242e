"""Moving bytes to a peer: one HTTP POST, one SMTP session, TLS, the pool, the deadline.

- :mod:`.wire`: the TLS rule, the one deadline a peer cannot stretch, the
  dropped-connection check, the fork-safe idle pool, how a fault is sorted;
- :mod:`.attempt`: where an attempt stands (the stage) and what a failure
  there allows (the one resend table HTTP and SMTP share);
- :mod:`.url`: the URL rules a channel's endpoint must pass;
- :mod:`.http`: one POST over :mod:`http.client`; :mod:`.smtp`: one SMTP
  session over :mod:`smtplib`, both under the same deadline;
- :mod:`.loopback`: the loopback sinks ``kstalerts demo`` and the examples use.

Channels and transports build on these; nothing here knows about alerts.
Nothing here is public API of kstalerts, and importing this package loads
none of its modules (``http.client`` and ``ssl`` load on a first send).
"""

__all__ = ()
