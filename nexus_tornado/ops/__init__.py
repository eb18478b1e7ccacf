"""What an operator looks at: Prometheus metrics (:mod:`.metrics`), liveness and
readiness (:mod:`.health`), the status page (:mod:`.status`) and the log format with its
redaction of secrets (:mod:`.log_format`, :mod:`.log_redaction`)."""
