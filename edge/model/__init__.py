"""A model file on the device: one backend per runtime (:mod:`.backends`), the embedded spec (:mod:`.metadata`),
quantization parameters (:mod:`.quant`), :class:`.model.Model` that ties them together, specs for foreign models from
flags (:mod:`.foreign`) and the start-up check of a spec's front end (:mod:`.probe`)."""
