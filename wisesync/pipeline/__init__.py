"""The pipeline roles: extractor, poster (with its posting journal), reporter, acknowledger
(see ARCHITECTURE.md sections 2, 3 and 9). The results review they feed is
:mod:`wisesync.review`."""
