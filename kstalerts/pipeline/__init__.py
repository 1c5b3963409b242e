"""The delivery pipeline: the stages an alert passes on its way to one channel.

:mod:`.stage` defines a stage and a pipeline; :mod:`.build` composes each
channel's pipelines from its registration; one module per stage
(:mod:`.level`, :mod:`.dedup`, :mod:`.throttling`, :mod:`.digest`,
:mod:`.spool`, :mod:`.stats`, :mod:`.delivery`); :mod:`.notification` is
the value a channel renders. See docs/design.md, "The delivery pipeline".

Rules: this package imports nothing on its own; a stage module is loaded
only when a channel's config asks for that stage.
"""

__all__ = ()
