"""File formats: WAV (:mod:`.wav`) and the one audio loader (:mod:`.audio`), detector CSV rows (:mod:`.rows`), the
course pickle (:mod:`.course`, through :mod:`.safe_pickle`), IDX (:mod:`.idx`), folders of labelled clips
(:mod:`.clips`) and label tracks (:mod:`.label_track`). Readers and parsers only: no streams, no models."""
