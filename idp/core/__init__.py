"""The base layer every package stands on: configuration, extensions and the store, crypto,
column types, logs, problem responses and request plumbing. Imports nothing else of Tillid."""
