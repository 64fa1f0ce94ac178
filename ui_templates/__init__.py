"""Server-driven UI: component templates and the engine that renders them with data.

This app imports neither ``products`` nor ``recommendations``: it is a rendering engine with its admin.
"""
