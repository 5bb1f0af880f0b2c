"""The shared contract at the bottom of the device runtime: the model spec (:mod:`.spec`), the stream detector's
settings (:mod:`.detection`), label names (:mod:`.labels`), the one error type (:mod:`.errors`) and the silencer of
native libraries' stderr (:mod:`.quiet`). It imports nothing of edgekit above it."""
