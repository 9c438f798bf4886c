"""The MLflow tracking server and model registry: the source (`source`, `http`, `typed_json`, `reads`,
`stats`: REST calls read into typed data), the collector with its background refresh and rows, the plugin
(`--mlflow.*`) and the catalogue. Tests run a real MLflow server instead of a double."""
