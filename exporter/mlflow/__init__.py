"""The MLflow tracking server and model registry: the source (`source`, `http`, `typed_json`, `reads`,
`stats`: REST calls read into typed data), the collector (serves the last good snapshot; a due scrape starts
a `refresh` on a background thread and waits for it only briefly; `rows` turns what was read into samples),
the plugin (`--mlflow.*`) and the catalogue. Tests run a real MLflow server instead of a double."""
