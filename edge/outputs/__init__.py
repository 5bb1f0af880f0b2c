"""Where a stream's results go: text and JSON sinks and the publishing wrapper (:mod:`.sinks`), their shared text pieces
(:mod:`.text`), the MQTT publisher (:mod:`.publish`) and the recorder of chosen windows (:mod:`.record`)."""
