"""The command line of the device: ``edge-run`` (:mod:`.edge_run`), the ``edgekit`` group's device commands
(:mod:`.edgekit`: info, bench, stream-eval, service, run), their shared plumbing (:mod:`.cli`: one-line errors, exit
codes), the systemd unit (:mod:`.service`) and the stream-eval plot (:mod:`.plot`)."""
