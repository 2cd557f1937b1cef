"""Course tooling: the committed form of notebooks, offline slide decks, and the browser checks."""
