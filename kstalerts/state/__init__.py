"""The state store: the one way kstalerts keeps files in a state folder.

See :mod:`kstalerts.state.store` for the rules. Nothing here is public API
of kstalerts; the throttle, dedup, digest, spool, ``kstalerts run`` and the
alert lifecycle build on it.
"""

__all__ = ()
