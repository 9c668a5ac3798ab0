"""The platform's public entry: routing to the services, edge auth, rate limits, streaming proxy, merged docs."""
