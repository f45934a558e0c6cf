"""The pipeline roles: extractor, poster (with its posting journal), reporter, acknowledger,
and the results review they feed (see ARCHITECTURE.md sections 2, 3 and 9)."""
