"""Live inputs of a stream: 1-D signals from a file, a pickle, stdin or the microphone (:mod:`.signal`), detector rows
(:mod:`.rows`), pictures (:mod:`.images`), clips laid out as one noisy stream (:mod:`.clip_stream`) and the vibration
simulator (:mod:`.synth`)."""
