"""The streaming loop (:mod:`.loop`) and its timed step (:mod:`.step`: front end → quantize → invoke → post-process),
the stream detector (:mod:`.detect`), the shadow model (:mod:`.shadow`), stop signals (:mod:`.signals`), latency
statistics (:mod:`.stats`), and the back-ends of ``edgekit bench`` (:mod:`.bench`) and ``edgekit stream-eval``
(:mod:`.stream_eval`) that drive them."""
