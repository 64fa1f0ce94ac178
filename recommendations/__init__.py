"""Personalised offers, feed assembly, the home feed API and the live WebSocket consumer."""
