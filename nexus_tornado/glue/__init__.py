"""The STOMP glue of one connection: a SockJS or WebSocket connection drives one STOMP
session (:mod:`.connection`), paces its output and holds transactions (:mod:`.flow`),
keeps its clocks (:mod:`.keepalive`), reports refusals (:mod:`.reports`) and closes
during a drain (:mod:`.shutdown`); :mod:`.services` is what all connections share."""
