"""What ops see of the running service: JSON logs (`logging`), Prometheus metrics (`metrics`)
and OpenTelemetry traces (`tracing`). The per-request part of logs and metrics is one ASGI
middleware, `energy_api.http.middleware.EdgeMiddleware`."""
