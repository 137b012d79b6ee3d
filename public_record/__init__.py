"""The public record: pages under /public/ and the API under /api/public/,
for anyone, without signing in — the transparency log, its proofs and
receipts, and the releases at stage 2 and above with the regulator's
decisions. A presentation package above every app (like ``portal``): it
reads the log (``transparency``), the release state (``releases``), system
versions (``labs``) and gate decisions (``deploy``) by importing them. Its
templates are ``transparency/templates/transparency/public/``."""
