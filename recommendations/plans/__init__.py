"""The plan finder: questions managed in the admin, a fast synchronous filter over the plan
catalogue, and an asynchronous enrichment pushed over WebSocket (docs/api.md, docs/websocket.md)."""
