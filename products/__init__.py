"""Product lines, their plans and generic deals, and everything that talks to product backends."""
